// Package oci holds what the OCI Distribution Spec fixes and every part of
// dfsreg shares: the table of error codes, the grammar of repository names,
// tags and digests, and the media types dfsreg recognises.
package oci

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
)

// Code is an error code of the OCI Distribution Spec.
type Code string

// The error codes of the distribution spec (section "Error Codes"), plus
// TOOMANYREQUESTS and UNSUPPORTED which the spec also lists.
const (
	CodeBlobUnknown         Code = "BLOB_UNKNOWN"
	CodeBlobUploadInvalid   Code = "BLOB_UPLOAD_INVALID"
	CodeBlobUploadUnknown   Code = "BLOB_UPLOAD_UNKNOWN"
	CodeDigestInvalid       Code = "DIGEST_INVALID"
	CodeManifestBlobUnknown Code = "MANIFEST_BLOB_UNKNOWN"
	CodeManifestInvalid     Code = "MANIFEST_INVALID"
	CodeManifestUnknown     Code = "MANIFEST_UNKNOWN"
	CodeNameInvalid         Code = "NAME_INVALID"
	CodeNameUnknown         Code = "NAME_UNKNOWN"
	CodeSizeInvalid         Code = "SIZE_INVALID"
	CodeUnauthorized        Code = "UNAUTHORIZED"
	CodeDenied              Code = "DENIED"
	CodeUnsupported         Code = "UNSUPPORTED"
	CodeTooManyRequests     Code = "TOOMANYREQUESTS"

	// Not in the spec's table, used for failures that are the server's own.
	CodeUnknown Code = "UNKNOWN"
)

// codeInfo is one row of the table: the default HTTP status and message.
type codeInfo struct {
	status  int
	message string
}

// table is the one table of OCI error codes in dfsreg.
var table = map[Code]codeInfo{
	CodeBlobUnknown:         {http.StatusNotFound, "blob unknown to registry"},
	CodeBlobUploadInvalid:   {http.StatusBadRequest, "blob upload invalid"},
	CodeBlobUploadUnknown:   {http.StatusNotFound, "blob upload unknown to registry"},
	CodeDigestInvalid:       {http.StatusBadRequest, "provided digest did not match uploaded content"},
	CodeManifestBlobUnknown: {http.StatusBadRequest, "manifest references a manifest or blob unknown to registry"},
	CodeManifestInvalid:     {http.StatusBadRequest, "manifest invalid"},
	CodeManifestUnknown:     {http.StatusNotFound, "manifest unknown to registry"},
	CodeNameInvalid:         {http.StatusBadRequest, "invalid repository name"},
	CodeNameUnknown:         {http.StatusNotFound, "repository name not known to registry"},
	CodeSizeInvalid:         {http.StatusBadRequest, "provided length did not match content length"},
	CodeUnauthorized:        {http.StatusUnauthorized, "authentication required"},
	CodeDenied:              {http.StatusForbidden, "requested access to the resource is denied"},
	CodeUnsupported:         {http.StatusMethodNotAllowed, "the operation is unsupported"},
	CodeTooManyRequests:     {http.StatusTooManyRequests, "too many requests"},
	CodeUnknown:             {http.StatusInternalServerError, "unknown error"},
}

// Error is an OCI error: a code, a message, optional detail, and the HTTP
// status it is answered with.
type Error struct {
	Code    Code
	Message string
	Detail  any
	Status  int
}

// Err makes an Error for code with the table's status and a message; an empty
// message takes the table's.
func Err(code Code, format string, args ...any) *Error {
	info, ok := table[code]
	if !ok {
		info = table[CodeUnknown]
	}
	msg := info.message
	if format != "" {
		msg = fmt.Sprintf(format, args...)
	}
	return &Error{Code: code, Message: msg, Status: info.status}
}

// WithStatus returns a copy of e answered with another HTTP status (the spec
// pairs some codes with several statuses: 413, 416).
func (e *Error) WithStatus(status int) *Error {
	c := *e
	c.Status = status
	return &c
}

// WithDetail returns a copy of e carrying detail.
func (e *Error) WithDetail(detail any) *Error {
	c := *e
	c.Detail = detail
	return &c
}

func (e *Error) Error() string { return string(e.Code) + ": " + e.Message }

// Is makes errors.Is(err, &Error{Code: X}) match on the code alone.
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	return ok && t.Code == e.Code
}

// HasCode reports whether err is (or wraps) an OCI error with code.
func HasCode(err error, code Code) bool {
	var e *Error
	return errors.As(err, &e) && e.Code == code
}

// Envelope is the JSON body of every error response.
type Envelope struct {
	Errors []EnvelopeError `json:"errors"`
}

// EnvelopeError is one entry of an Envelope.
type EnvelopeError struct {
	Code    Code   `json:"code"`
	Message string `json:"message"`
	Detail  any    `json:"detail,omitempty"`
}

// Marshal renders e as the spec's error envelope.
func (e *Error) Marshal() []byte {
	b, err := json.Marshal(Envelope{Errors: []EnvelopeError{{Code: e.Code, Message: e.Message, Detail: e.Detail}}})
	if err != nil { // a Detail that cannot be marshalled: drop it
		b, _ = json.Marshal(Envelope{Errors: []EnvelopeError{{Code: e.Code, Message: e.Message}}})
	}
	return b
}
