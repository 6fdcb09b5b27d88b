// Package validate turns public API requests into checked internal values.
// It applies the SQS defaults and limits (core/limits.go) and reports the
// first problem as a *core.Error naming the request field at fault, so that
// clients learn which field to fix. It is pure: no I/O, no state.
package validate
