package validate

import (
	"math"
	"slices"
	"strconv"
	"strings"

	"github.com/wharfmq/wharf/core"
	wharfv1 "github.com/wharfmq/wharf/proto/wharf/v1"
)

// The bounds SQS puts on Number attribute values.
const (
	maxNumberDigits = 38
	maxNumberAbs    = 1e126
	minNumberAbs    = 1e-128
	maxDataTypeLen  = 256
)

// messageAttributes checks a message's attributes and returns the bytes they
// count towards the message size: each name, data type and value.
func messageAttributes(prefix string, attributes map[string]*wharfv1.MessageAttributeValue) (int, error) {
	if n := len(attributes); n > core.MaxMessageAttributes {
		return 0, core.FieldError(prefix+"attributes", "at most %d attributes are allowed, got %d", core.MaxMessageAttributes, n)
	}
	// Sorted, so that the same request always reports the same error.
	names := make([]string, 0, len(attributes))
	for name := range attributes {
		names = append(names, name)
	}
	slices.Sort(names)
	size := 0
	for _, name := range names {
		v := attributes[name]
		field := prefix + "attributes[" + strconv.Quote(name) + "]"
		if err := attributeName(field, name); err != nil {
			return 0, err
		}
		if err := attributeValue(field, v); err != nil {
			return 0, err
		}
		size += len(name) + len(v.GetDataType()) + len(v.GetStringValue()) + len(v.GetBinaryValue())
	}
	return size, nil
}

// attributeName checks an attribute name: 1 to 256 characters of
// [A-Za-z0-9_.-], no reserved prefix, no leading, trailing or doubled '.'.
func attributeName(field, name string) error {
	if name == "" {
		return core.FieldError(field, "name must not be empty")
	}
	if len(name) > core.MaxAttributeNameLen {
		return core.FieldError(field, "name must be at most %d characters, got %d", core.MaxAttributeNameLen, len(name))
	}
	for i := 0; i < len(name); i++ {
		if c := name[i]; !isIDChar(c) && c != '.' {
			return core.FieldError(field, "name has invalid character %s at offset %d: only letters, digits, '-', '_' and '.' are allowed", describe(c), i)
		}
	}
	lower := strings.ToLower(name)
	if strings.HasPrefix(lower, "aws.") || strings.HasPrefix(lower, "amazon.") {
		return core.FieldError(field, `name must not start with "AWS." or "Amazon.": they are reserved`)
	}
	if name[0] == '.' || name[len(name)-1] == '.' {
		return core.FieldError(field, "name must not start or end with '.'")
	}
	if strings.Contains(name, "..") {
		return core.FieldError(field, `name must not contain ".."`)
	}
	return nil
}

// attributeValue checks an attribute's data type and that it carries the
// one value its type calls for.
func attributeValue(field string, v *wharfv1.MessageAttributeValue) error {
	dt := v.GetDataType()
	dtField := field + ".data_type"
	if dt == "" {
		return core.FieldError(dtField, "must not be empty")
	}
	if len(dt) > maxDataTypeLen {
		return core.FieldError(dtField, "must be at most %d characters, got %d", maxDataTypeLen, len(dt))
	}
	base, label, hasLabel := strings.Cut(dt, ".")
	if base != "String" && base != "Number" && base != "Binary" {
		return core.FieldError(dtField, `must be "String", "Number" or "Binary", optionally followed by "." and a custom label, got %q`, dt)
	}
	if hasLabel {
		if label == "" {
			return core.FieldError(dtField, `custom label after "." must not be empty`)
		}
		for i := 0; i < len(label); i++ {
			if c := label[i]; !isIDChar(c) && c != '.' {
				return core.FieldError(dtField, "custom label has invalid character %s: only letters, digits, '-', '_' and '.' are allowed", describe(c))
			}
		}
	}

	strField, binField := field+".string_value", field+".binary_value"
	str, bin := v.GetStringValue(), v.GetBinaryValue()
	if base == "Binary" {
		if len(bin) == 0 {
			return core.FieldError(binField, "must not be empty for data type %q", dt)
		}
		if str != "" {
			return core.FieldError(strField, "must be empty for data type %q", dt)
		}
		return nil
	}
	if str == "" {
		return core.FieldError(strField, "must not be empty for data type %q", dt)
	}
	if len(bin) != 0 {
		return core.FieldError(binField, "must be empty for data type %q", dt)
	}
	if err := text(strField, str); err != nil {
		return err
	}
	if base == "Number" {
		return number(strField, str)
	}
	return nil
}

// number checks a Number attribute value: a decimal number with up to 38
// significant digits whose magnitude is zero or between 10^-128 and 10^126,
// as SQS documents.
func number(field, s string) error {
	digits, ok := decimalDigits(s)
	if !ok {
		return core.FieldError(field, "%q is not a decimal number", s)
	}
	// Leading and trailing zeros fix the magnitude, not the precision.
	significant := strings.Trim(digits, "0")
	if n := len(significant); n > maxNumberDigits {
		return core.FieldError(field, "has %d significant digits, at most %d are allowed", n, maxNumberDigits)
	}
	f, err := strconv.ParseFloat(s, 64)
	// ParseFloat only fails here on overflow: the syntax is already checked.
	// On underflow it returns 0, which only a zero mantissa may.
	abs := math.Abs(f)
	if err != nil || abs > maxNumberAbs || significant != "" && abs < minNumberAbs {
		return core.FieldError(field, "%s is out of range: its magnitude must be 0 or between 1e-128 and 1e126", s)
	}
	return nil
}

// decimalDigits parses s as [+-] digits [. digits] [(e|E) [+-] digits], with
// at least one mantissa digit, and returns the mantissa's digits. It is
// stricter than strconv.ParseFloat, which also takes hex, "Inf", "NaN" and
// underscores.
func decimalDigits(s string) (string, bool) {
	i := 0
	skipSign := func() {
		if i < len(s) && (s[i] == '+' || s[i] == '-') {
			i++
		}
	}
	skipDigits := func() string {
		start := i
		for i < len(s) && '0' <= s[i] && s[i] <= '9' {
			i++
		}
		return s[start:i]
	}
	skipSign()
	digits := skipDigits()
	if i < len(s) && s[i] == '.' {
		i++
		digits += skipDigits()
	}
	if digits == "" {
		return "", false
	}
	if i < len(s) && (s[i] == 'e' || s[i] == 'E') {
		i++
		skipSign()
		if skipDigits() == "" {
			return "", false
		}
	}
	return digits, i == len(s)
}
