package wallet

import "context"

// SetAfterKeyGen installs a hook run between HSM key generation and
// storing a new wallet (tests simulate a crash there).
func SetAfterKeyGen(s *Service, f func(keyID string) error) { s.afterKeyGen = f }

// SchemaVersion returns the database's schema version.
func SchemaVersion(s *Service) (int, error) { return s.st.schemaVersion(context.Background()) }

// Migrations is the number of migrations this code knows.
var Migrations = len(migrations)

// SetAfterReserve installs a hook run after a send's inputs are reserved
// and before signing (tests simulate a crash there).
func SetAfterReserve(s *Service, f func(txID string) error) { s.afterReserve = f }
