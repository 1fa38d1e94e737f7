package iaassim

import (
	"bytes"
	"encoding"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"reflect"
	"strconv"
	"strings"
	"time"

	"github.com/kube-iaas/kube-iaas/iaasclient"
	"github.com/kube-iaas/kube-iaas/iaasclient/validate"
)

// DecodeStrict decodes one JSON value from data into out (a pointer to a struct). It is
// stricter than encoding/json: field names must match exactly (no case folding), unknown
// fields, wrong types, non-integer numbers for int fields and trailing data are refused,
// so are keys given twice, strings that are not valid UTF-8 and "name": "" (checkText),
// and every error is an InvalidParameter *iaasclient.Error whose message names the field
// by its JSON path (routes[2].destinationCidr).
func DecodeStrict(data []byte, out any) *iaasclient.Error {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var generic any
	if err := dec.Decode(&generic); err != nil {
		if errors.Is(err, io.EOF) {
			return iaasclient.Errorf(iaasclient.CodeInvalidParameter, "body: empty; send a JSON object ({} for no parameters)")
		}
		return iaasclient.Errorf(iaasclient.CodeInvalidParameter, "body: malformed JSON: %s", jsonErrText(err))
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return iaasclient.Errorf(iaasclient.CodeInvalidParameter, "body: trailing data after the JSON object")
	}
	t := reflect.TypeOf(out)
	if t.Kind() != reflect.Pointer {
		return iaasclient.Errorf(iaasclient.CodeInternalError, "decoding into a non-pointer")
	}
	if _, ok := generic.(map[string]any); !ok {
		return iaasclient.Errorf(iaasclient.CodeInvalidParameter, "body: must be a JSON object")
	}
	if err := checkShape(generic, t.Elem(), ""); err != nil {
		return err
	}
	if err := checkText(data, t.Elem()); err != nil {
		return err
	}
	if err := json.Unmarshal(data, out); err != nil {
		// checkShape accepted it, so this is a value a custom unmarshaler refused.
		return iaasclient.Errorf(iaasclient.CodeInvalidParameter, "body: %s", jsonErrText(err))
	}
	return nil
}

func jsonErrText(err error) string {
	var se *json.SyntaxError
	if errors.As(err, &se) {
		return fmt.Sprintf("%s at offset %d", se.Error(), se.Offset)
	}
	return err.Error()
}

var (
	timeType        = reflect.TypeOf(time.Time{})
	unmarshalerType = reflect.TypeOf((*json.Unmarshaler)(nil)).Elem()
	textUnmarshaler = reflect.TypeOf((*encoding.TextUnmarshaler)(nil)).Elem()
)

func fieldPath(parent, name string) string {
	if parent == "" {
		return name
	}
	return parent + "." + name
}

func displayPath(p string) string {
	if p == "" {
		return "body"
	}
	return p
}

// checkShape walks a generic JSON value (from a decoder with UseNumber) against the Go
// type it will be decoded into.
func checkShape(v any, t reflect.Type, path string) *iaasclient.Error {
	if v == nil {
		return nil // null leaves the zero value, as encoding/json does
	}
	if t.Kind() == reflect.Pointer {
		return checkShape(v, t.Elem(), path)
	}
	if t == timeType {
		s, ok := v.(string)
		if !ok {
			return validate.Invalid(path, "must be an RFC 3339 time string")
		}
		if _, err := time.Parse(time.RFC3339Nano, s); err != nil {
			return validate.Invalid(path, "must be an RFC 3339 time string")
		}
		return nil
	}
	if reflect.PointerTo(t).Implements(unmarshalerType) || reflect.PointerTo(t).Implements(textUnmarshaler) {
		// A type with its own decoding (durations in the config): check it decodes.
		raw, _ := json.Marshal(v)
		if err := json.Unmarshal(raw, reflect.New(t).Interface()); err != nil {
			return validate.Invalid(path, "%s", err.Error())
		}
		return nil
	}
	switch t.Kind() {
	case reflect.Struct:
		obj, ok := v.(map[string]any)
		if !ok {
			return validate.Invalid(path, "must be a JSON object")
		}
		fields := jsonFields(t)
		for k, fv := range obj {
			ft, ok := fields[k]
			if !ok {
				return validate.Invalid(fieldPath(path, k), "unknown field")
			}
			if err := checkShape(fv, ft, fieldPath(path, k)); err != nil {
				return err
			}
		}
		return nil
	case reflect.Map:
		obj, ok := v.(map[string]any)
		if !ok {
			return validate.Invalid(path, "must be a JSON object")
		}
		if t.Key().Kind() != reflect.String {
			return validate.Invalid(path, "unsupported map key type")
		}
		for k, fv := range obj {
			if err := checkShape(fv, t.Elem(), fmt.Sprintf("%s[%s]", displayPath(path), strconv.Quote(k))); err != nil {
				return err
			}
		}
		return nil
	case reflect.Slice:
		arr, ok := v.([]any)
		if !ok {
			return validate.Invalid(path, "must be a JSON array")
		}
		for i, ev := range arr {
			if err := checkShape(ev, t.Elem(), fmt.Sprintf("%s[%d]", displayPath(path), i)); err != nil {
				return err
			}
		}
		return nil
	case reflect.String:
		if _, ok := v.(string); !ok {
			return validate.Invalid(path, "must be a string")
		}
		return nil
	case reflect.Bool:
		if _, ok := v.(bool); !ok {
			return validate.Invalid(path, "must be true or false")
		}
		return nil
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		n, ok := v.(json.Number)
		if !ok {
			return validate.Invalid(path, "must be an integer")
		}
		i, err := strconv.ParseInt(string(n), 10, 64)
		if err != nil {
			return validate.Invalid(path, "must be an integer, got %s", n)
		}
		bits := t.Bits()
		if i < -(1<<(bits-1)) || i > (1<<(bits-1))-1 {
			return validate.Invalid(path, "%d is out of range", i)
		}
		return nil
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		n, ok := v.(json.Number)
		if !ok {
			return validate.Invalid(path, "must be a non-negative integer")
		}
		u, err := strconv.ParseUint(string(n), 10, 64)
		if err != nil || (t.Bits() < 64 && u > (1<<t.Bits())-1) {
			return validate.Invalid(path, "must be a non-negative integer in range, got %s", n)
		}
		return nil
	case reflect.Float32, reflect.Float64:
		n, ok := v.(json.Number)
		if !ok {
			return validate.Invalid(path, "must be a number")
		}
		f, err := strconv.ParseFloat(string(n), 64)
		if err != nil || math.IsInf(f, 0) {
			return validate.Invalid(path, "must be a finite number, got %s", n)
		}
		return nil
	case reflect.Interface:
		return nil
	}
	return validate.Invalid(path, "unsupported type %s", t)
}

// jsonFields maps the exact JSON names of t's fields (embedded structs flattened) to
// their types.
func jsonFields(t reflect.Type) map[string]reflect.Type {
	out := map[string]reflect.Type{}
	for i := range t.NumField() {
		f := t.Field(i)
		tag := f.Tag.Get("json")
		if tag == "-" {
			continue
		}
		name, _, _ := strings.Cut(tag, ",")
		if f.Anonymous && name == "" {
			ft := f.Type
			if ft.Kind() == reflect.Pointer {
				ft = ft.Elem()
			}
			if ft.Kind() == reflect.Struct {
				for k, v := range jsonFields(ft) {
					if _, dup := out[k]; !dup {
						out[k] = v
					}
				}
				continue
			}
		}
		if !f.IsExported() {
			continue
		}
		if name == "" {
			name = f.Name
		}
		out[name] = f.Type
	}
	return out
}
