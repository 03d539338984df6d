package auth

import (
	"encoding/base64"
	"errors"
	"strings"
	"unicode/utf8"
)

// decodeBasic splits the credentials of a Basic Authorization header.
func decodeBasic(creds string) (user, pass string, err error) {
	b, err := base64.StdEncoding.DecodeString(creds)
	if err != nil {
		return "", "", errors.New("basic credentials are not base64")
	}
	user, pass, ok := strings.Cut(string(b), ":")
	if !ok || user == "" || !utf8.ValidString(user) {
		return "", "", errors.New("basic credentials are not user:password")
	}
	return user, pass, nil
}
