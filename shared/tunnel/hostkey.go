package tunnel

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"strings"

	"github.com/pg2s3/pg2s3/shared/config"
	"golang.org/x/crypto/ssh"
)

// hostKeyError says which key the bastion offered and which were pinned.
type hostKeyError struct {
	addr    string
	offered ssh.PublicKey
	pinned  []ssh.PublicKey
}

func (e *hostKeyError) Error() string {
	var pins []string
	for _, p := range e.pinned {
		pins = append(pins, p.Type()+" "+ssh.FingerprintSHA256(p))
	}
	return fmt.Sprintf("ssh host key of %s is %s %s, but ssh_tunnel.host_key pins %s: if the bastion's key changed on purpose, pin the new one (ssh-keyscan the bastion and compare its fingerprint with one obtained out of band); otherwise someone may be intercepting the connection",
		e.addr, e.offered.Type(), ssh.FingerprintSHA256(e.offered), strings.Join(pins, ", "))
}

func (e *hostKeyError) Unwrap() error { return ErrHostKey }

// ParseHostKeys parses ssh_tunnel.host_key: one or more lines, each a
// known_hosts line ("bastion.example.com ssh-ed25519 AAAA..."), or a bare
// public key ("ssh-ed25519 AAAA..."). Host patterns are not matched: the
// pin belongs to this configuration's bastion.
func ParseHostKeys(s string) ([]ssh.PublicKey, error) {
	var keys []ssh.PublicKey
	for _, line := range strings.Split(s, "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		if k, _, _, _, err := ssh.ParseAuthorizedKey([]byte(line)); err == nil {
			keys = append(keys, k)
			continue
		}
		marker, _, k, _, _, err := ssh.ParseKnownHosts([]byte(line))
		if err != nil {
			return nil, fmt.Errorf("ssh_tunnel.host_key: %q is not a known_hosts line or a public key", shorten(line))
		}
		if marker == "revoked" {
			continue
		}
		if marker != "" {
			return nil, fmt.Errorf("ssh_tunnel.host_key: @%s lines are not supported; pin the host key itself", marker)
		}
		keys = append(keys, k)
	}
	if len(keys) == 0 {
		return nil, errors.New("ssh_tunnel.host_key: no public key found")
	}
	return keys, nil
}

// hostKeyCallback verifies the bastion against the pinned keys and returns
// the host key algorithms to ask for, so the bastion presents a pinned type.
func hostKeyCallback(cfg *config.SSHTunnel, addr string) (ssh.HostKeyCallback, []string, error) {
	if cfg.HostKey == "" {
		if cfg.InsecureIgnoreHostKey {
			return ssh.InsecureIgnoreHostKey(), nil, nil
		}
		return nil, nil, fmt.Errorf("%w: ssh_tunnel.host_key is empty: pin the bastion's key (a known_hosts line) or set insecure_ignore_host_key", ErrHostKey)
	}
	pins, err := ParseHostKeys(cfg.HostKey)
	if err != nil {
		return nil, nil, err
	}
	var algos []string
	seen := map[string]bool{}
	for _, k := range pins {
		for _, a := range algorithmsFor(k.Type()) {
			if !seen[a] {
				seen[a] = true
				algos = append(algos, a)
			}
		}
	}
	cb := func(_ string, _ net.Addr, key ssh.PublicKey) error {
		for _, p := range pins {
			if p.Type() == key.Type() && bytes.Equal(p.Marshal(), key.Marshal()) {
				return nil
			}
		}
		return &hostKeyError{addr: addr, offered: key, pinned: pins}
	}
	return cb, algos, nil
}

// algorithmsFor lists the signature algorithms that verify a key type.
func algorithmsFor(keyType string) []string {
	if keyType == ssh.KeyAlgoRSA {
		return []string{ssh.KeyAlgoRSASHA512, ssh.KeyAlgoRSASHA256, ssh.KeyAlgoRSA}
	}
	return []string{keyType}
}

// KnownHostsLine formats key as a known_hosts line for host:port.
func KnownHostsLine(host string, port int, key ssh.PublicKey) string {
	addr := host
	if port != 22 {
		addr = fmt.Sprintf("[%s]:%d", host, port)
	}
	return addr + " " + strings.TrimSpace(string(ssh.MarshalAuthorizedKey(key)))
}

func shorten(s string) string {
	if len(s) > 40 {
		return s[:40] + "..."
	}
	return s
}
