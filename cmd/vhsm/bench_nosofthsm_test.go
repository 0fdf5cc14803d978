//go:build nosofthsm

package main

import "errors"

// softhsmModule reports that this build cannot load SoftHSM2.
func softhsmModule() (string, error) {
	return "", errors.New("built with the nosofthsm tag")
}
