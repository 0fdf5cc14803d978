package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strings"
	"unicode/utf8"
)

// readBody reads the request body, bounded by maxBody. It requires
// Content-Type application/json unless the body is empty and optional is
// set.
func (s *server) readBody(w http.ResponseWriter, r *http.Request, optional bool) ([]byte, error) {
	if r.ContentLength > s.maxBody {
		return nil, newProblem(ProblemTooLarge, fmt.Sprintf("the request body exceeds %d bytes", s.maxBody))
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, s.maxBody))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return nil, newProblem(ProblemTooLarge, fmt.Sprintf("the request body exceeds %d bytes", s.maxBody))
		}
		return nil, invalid("the request body could not be read")
	}
	if len(body) == 0 && optional {
		return nil, nil
	}
	ct := r.Header.Get("Content-Type")
	mt, params, err := mime.ParseMediaType(ct)
	if err != nil || mt != "application/json" {
		return nil, newProblem(ProblemUnsupportedMedia, "send the body as Content-Type: application/json")
	}
	if cs, ok := params["charset"]; ok && !strings.EqualFold(cs, "utf-8") {
		return nil, newProblem(ProblemUnsupportedMedia, "the body must be UTF-8 JSON")
	}
	if len(bytes.TrimSpace(body)) == 0 {
		return nil, invalid("a JSON request body is required", FieldError{Field: "body", Message: "required"})
	}
	return body, nil
}

// decodeJSON reads the body into v strictly: no unknown field, no trailing
// data, types as documented. Errors are invalid-request problems naming
// the field.
func (s *server) decodeJSON(w http.ResponseWriter, r *http.Request, v any, optional bool) error {
	body, err := s.readBody(w, r, optional)
	if err != nil || body == nil {
		return err
	}
	return strictUnmarshal(body, v)
}

// strictUnmarshal decodes one JSON value into v, refusing unknown fields
// and trailing data.
func strictUnmarshal(body []byte, v any) error {
	if !utf8.Valid(body) {
		return invalid("the body is not valid UTF-8")
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return jsonProblem(err)
	}
	if name, dup := duplicateKey(body); dup {
		// encoding/json keeps the last of duplicate (case-insensitively
		// equal) keys; another reader of the same body (a proxy, an audit
		// log) may keep the first. Refuse the ambiguity.
		if len(name) > 64 || !utf8.ValidString(name) {
			name = "(a field)"
		}
		return invalid("duplicate field "+name, FieldError{Field: name, Message: "given more than once"})
	}
	if _, err := dec.Token(); err != io.EOF {
		return invalid("the body must hold exactly one JSON value", FieldError{Field: "body", Message: "trailing data after the JSON value"})
	}
	return nil
}

// duplicateKey reports the first object key that occurs twice in one
// object of body (compared case-insensitively, as encoding/json matches
// fields). body is valid JSON (it decoded).
func duplicateKey(body []byte) (string, bool) {
	dec := json.NewDecoder(bytes.NewReader(body))
	type frame struct {
		obj    bool
		keys   map[string]bool
		expKey bool // in an object, the next token is a key
	}
	var stack []*frame
	for {
		tok, err := dec.Token()
		if err != nil {
			return "", false
		}
		var top *frame
		if len(stack) > 0 {
			top = stack[len(stack)-1]
		}
		if d, ok := tok.(json.Delim); ok {
			switch d {
			case '{', '[':
				if top != nil && top.obj {
					top.expKey = true // this value ends at its closing delimiter
				}
				stack = append(stack, &frame{obj: d == '{', keys: map[string]bool{}, expKey: d == '{'})
			default:
				stack = stack[:len(stack)-1]
			}
			continue
		}
		if top != nil && top.obj {
			if top.expKey {
				k := strings.ToLower(strings.ToUpper(tok.(string))) // ſ and K (Kelvin) fold as in encoding/json
				if top.keys[k] {
					return tok.(string), true
				}
				top.keys[k] = true
				top.expKey = false
			} else {
				top.expKey = true
			}
		}
	}
}

// jsonProblem explains a json decoding error.
func jsonProblem(err error) *Problem {
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.As(err, &syn):
		return invalid(fmt.Sprintf("malformed JSON at byte %d", syn.Offset), FieldError{Field: "body", Message: "malformed JSON"})
	case errors.As(err, &typ):
		field := typ.Field
		if field == "" {
			field = "body"
		}
		return invalid("a field has the wrong type", FieldError{Field: field, Message: "must be " + jsonKind(typ.Type.Kind().String())})
	case errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, io.EOF):
		return invalid("the JSON body is truncated", FieldError{Field: "body", Message: "truncated JSON"})
	}
	msg := err.Error()
	if name, ok := strings.CutPrefix(msg, "json: unknown field "); ok {
		name = strings.Trim(name, `"`)
		if len(name) > 64 || !utf8.ValidString(name) {
			name = "(a field)"
		}
		return invalid("unknown field "+name, FieldError{Field: name, Message: "unknown field"})
	}
	return invalid("the JSON body does not match the expected object", FieldError{Field: "body", Message: "invalid JSON object"})
}

// jsonKind names a Go kind in JSON terms.
func jsonKind(k string) string {
	switch {
	case strings.HasPrefix(k, "int"), strings.HasPrefix(k, "uint"):
		return "an integer in range"
	case k == "float32" || k == "float64":
		return "a number"
	case k == "string":
		return "a string"
	case k == "bool":
		return "true or false"
	case k == "slice" || k == "array":
		return "an array"
	case k == "struct" || k == "map":
		return "an object"
	}
	return "of another type"
}

// writeJSON writes v with status.
func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		writeProblem(w, nil, newProblem(ProblemInternal, "the response could not be encoded"), nil)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(append(b, '\n'))
}
