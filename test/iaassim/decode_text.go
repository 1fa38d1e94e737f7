package iaassim

import (
	"bytes"
	"encoding/json"
	"fmt"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/kube-iaas/kube-iaas/iaasclient"
	"github.com/kube-iaas/kube-iaas/iaasclient/validate"
)

// checkText walks the tokens of a syntactically valid JSON document alongside the Go
// type it will be decoded into and refuses what encoding/json would silently accept
// and change:
//
//   - a key given twice in one object (encoding/json keeps the last; a signed body that
//     says two things about one field is ambiguous, so real clouds refuse it);
//   - a string (value or key) that is not valid UTF-8, or has an escaped lone surrogate
//     (encoding/json stores U+FFFD instead, so the stored name differs from the sent one);
//   - an optional "name" field (tagged omitempty) given as "": a name, where given, is
//     not empty (omit the field for no name, or to keep the name on a Modify). A
//     required name (no omitempty: load balancers) is refused by package validate with
//     "is required", as the fake client does.
//
// Errors are InvalidParameter naming the field by the same path as checkShape.
func checkText(data []byte, t reflect.Type) *iaasclient.Error {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	w := &textWalker{dec: dec, data: data}
	return w.value(t, "")
}

type textWalker struct {
	dec  *json.Decoder
	data []byte
}

// next returns the next token and, for a string, its raw bytes (quotes included).
func (w *textWalker) next() (json.Token, []byte, error) {
	start := w.dec.InputOffset()
	tok, err := w.dec.Token()
	if err != nil {
		return nil, nil, err
	}
	if _, ok := tok.(string); !ok {
		return tok, nil, nil
	}
	// Between tokens there is only white space, ':' and ','; the string starts at the
	// first quote after the previous token.
	end := w.dec.InputOffset()
	raw := w.data[start:end]
	if i := bytes.IndexByte(raw, '"'); i >= 0 {
		raw = raw[i:]
	}
	return tok, raw, nil
}

func deref(t reflect.Type) reflect.Type {
	for t != nil && t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	return t
}

// value checks one value whose Go type is t (nil: unknown, checked generically).
func (w *textWalker) value(t reflect.Type, path string) *iaasclient.Error {
	t = deref(t)
	tok, raw, err := w.next()
	if err != nil {
		return validate.Invalid(path, "malformed JSON: %v", err)
	}
	switch v := tok.(type) {
	case json.Delim:
		switch v {
		case '{':
			return w.object(t, path)
		case '[':
			var elem reflect.Type
			if t != nil && (t.Kind() == reflect.Slice || t.Kind() == reflect.Array) {
				elem = t.Elem()
			}
			for i := 0; w.dec.More(); i++ {
				if err := w.value(elem, fmt.Sprintf("%s[%d]", displayPath(path), i)); err != nil {
					return err
				}
			}
			_, _, _ = w.next() // ']'
		}
	case string:
		if !validJSONString(raw) {
			return validate.Invalid(path, "must be valid UTF-8 (no invalid bytes, no unpaired surrogate escapes)")
		}
	}
	return nil
}

// object checks the members of an object (its '{' read) of Go type t.
func (w *textWalker) object(t reflect.Type, path string) *iaasclient.Error {
	var fields map[string]reflect.Type
	var elem reflect.Type
	isStruct := t != nil && t.Kind() == reflect.Struct && t != timeType
	if isStruct {
		fields = jsonFields(t)
	} else if t != nil && t.Kind() == reflect.Map {
		elem = t.Elem()
	}
	seen := map[string]bool{}
	for w.dec.More() {
		tok, raw, err := w.next()
		if err != nil {
			return validate.Invalid(path, "malformed JSON: %v", err)
		}
		key, _ := tok.(string)
		var kp string
		var kt reflect.Type
		if isStruct {
			kp, kt = fieldPath(path, key), fields[key]
		} else {
			kp, kt = fmt.Sprintf("%s[%s]", displayPath(path), strconv.Quote(key)), elem
		}
		if !validJSONString(raw) {
			return validate.Invalid(displayPath(path), "a key is not valid UTF-8 (no invalid bytes, no unpaired surrogate escapes)")
		}
		if seen[key] {
			return validate.Invalid(kp, "given twice in one object")
		}
		seen[key] = true
		if isStruct && key == "name" && optionalField(t, key) {
			off := w.dec.InputOffset()
			if err := w.value(kt, kp); err != nil {
				return err
			}
			if bytes.Equal(bytes.TrimLeft(w.data[off:w.dec.InputOffset()], " \t\r\n:"), []byte(`""`)) {
				return validate.Invalid(kp, "must not be empty")
			}
			continue
		}
		if err := w.value(kt, kp); err != nil {
			return err
		}
	}
	_, _, _ = w.next() // '}'
	return nil
}

// validJSONString reports whether the raw JSON string literal (quotes included, syntax
// already checked) is valid UTF-8 and its \u escapes pair every surrogate.
func validJSONString(raw []byte) bool {
	if !utf8.Valid(raw) {
		return false
	}
	if bytes.IndexByte(raw, '\\') < 0 {
		return true
	}
	hex4 := func(b []byte) (rune, bool) {
		if len(b) < 4 {
			return 0, false
		}
		n, err := strconv.ParseUint(string(b[:4]), 16, 32)
		return rune(n), err == nil
	}
	for i := 0; i < len(raw); i++ {
		if raw[i] != '\\' {
			continue
		}
		i++
		if i >= len(raw) || raw[i] != 'u' {
			continue // \" \\ \/ \b \f \n \r \t
		}
		r, ok := hex4(raw[i+1:])
		if !ok {
			return false
		}
		i += 4
		switch {
		case r >= 0xDC00 && r < 0xE000:
			return false // a low surrogate without its high one
		case r >= 0xD800 && r < 0xDC00:
			// must be followed by \u and a low surrogate
			if i+6 >= len(raw) || raw[i+1] != '\\' || raw[i+2] != 'u' {
				return false
			}
			lo, ok := hex4(raw[i+3:])
			if !ok || lo < 0xDC00 || lo >= 0xE000 {
				return false
			}
			i += 6
		}
	}
	return true
}

// optionalField reports whether the struct field with JSON name key is tagged omitempty.
func optionalField(t reflect.Type, key string) bool {
	for i := range t.NumField() {
		f := t.Field(i)
		name, opts, _ := strings.Cut(f.Tag.Get("json"), ",")
		if name == key {
			return slices.Contains(strings.Split(opts, ","), "omitempty")
		}
	}
	return false
}
