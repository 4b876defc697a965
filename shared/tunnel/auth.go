package tunnel

import (
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/pg2s3/pg2s3/shared/config"
	"golang.org/x/crypto/ssh"
)

// authMethods returns the credentials to offer: the private key first (RSA,
// ECDSA or Ed25519, PEM or OpenSSH format, optionally encrypted), then the
// password, by "password" and by "keyboard-interactive" as OpenSSH asks.
func authMethods(cfg *config.SSHTunnel) ([]ssh.AuthMethod, error) {
	var methods []ssh.AuthMethod
	if cfg.PrivateKey != "" {
		signer, err := ParsePrivateKey(cfg.PrivateKey, cfg.Passphrase)
		if err != nil {
			return nil, err
		}
		methods = append(methods, ssh.PublicKeys(signer))
	}
	if pw := cfg.Password; pw != "" {
		methods = append(methods, ssh.Password(pw),
			ssh.KeyboardInteractive(func(_, _ string, questions []string, _ []bool) ([]string, error) {
				answers := make([]string, len(questions))
				for i := range answers {
					answers[i] = pw
				}
				return answers, nil
			}))
	}
	if len(methods) == 0 {
		return nil, fmt.Errorf("%w: set ssh_tunnel.private_key or ssh_tunnel.password", ErrAuth)
	}
	return methods, nil
}

// ParsePrivateKey reads a private key given inline (text starting with
// "-----BEGIN") or as a file path, decrypting it with passphrase when it is
// encrypted. Errors never hold the key or the passphrase.
func ParsePrivateKey(key, passphrase string) (ssh.Signer, error) {
	pemBytes := []byte(key)
	if !strings.HasPrefix(strings.TrimSpace(key), "-----BEGIN") {
		b, err := os.ReadFile(key)
		if err != nil {
			return nil, fmt.Errorf("%w: read ssh_tunnel.private_key file: %v", ErrKey, pathError(err))
		}
		pemBytes = b
	}
	var signer ssh.Signer
	var err error
	if passphrase != "" {
		signer, err = ssh.ParsePrivateKeyWithPassphrase(pemBytes, []byte(passphrase))
	} else {
		signer, err = ssh.ParsePrivateKey(pemBytes)
	}
	var missing *ssh.PassphraseMissingError
	switch {
	case err == nil:
		return signer, nil
	case errors.As(err, &missing):
		return nil, fmt.Errorf("%w: ssh_tunnel.private_key is encrypted: set ssh_tunnel.passphrase", ErrKey)
	case errors.Is(err, x509.IncorrectPasswordError) || strings.Contains(err.Error(), "decryption password incorrect"):
		return nil, fmt.Errorf("%w: ssh_tunnel.passphrase does not decrypt ssh_tunnel.private_key", ErrKey)
	case passphrase != "" && strings.Contains(err.Error(), "not encrypted"):
		return nil, fmt.Errorf("%w: ssh_tunnel.private_key is not encrypted: remove ssh_tunnel.passphrase", ErrKey)
	}
	return nil, fmt.Errorf("%w: ssh_tunnel.private_key is not a PEM or OpenSSH private key (RSA, ECDSA or Ed25519)", ErrKey)
}

// pathError keeps an *os.PathError's operation and cause; the path itself
// is the user's own setting and safe to show.
func pathError(err error) error {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return fmt.Errorf("%s: %w", pe.Path, pe.Err)
	}
	return err
}
