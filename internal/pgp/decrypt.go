package pgp

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/ProtonMail/go-crypto/openpgp/armor"
	pgperrors "github.com/ProtonMail/go-crypto/openpgp/errors"
	"github.com/ProtonMail/go-crypto/openpgp/packet"
	openpgp "github.com/ProtonMail/go-crypto/openpgp/v2"
)

// DefaultMaxDecompressedSize bounds what a compressed message may expand to
// when Options.MaxDecompressedSize is zero.
const DefaultMaxDecompressedSize int64 = 8 << 30

// Errors callers branch on. Every error a Reader returns wraps one of them
// or the source's own read error.
var (
	// ErrIntegrity: the message was modified, truncated or is malformed.
	// Everything read from it so far must be discarded.
	ErrIntegrity = errors.New("pgp: message failed its integrity check")
	// ErrSignature: a required signature is missing, made by another key or
	// invalid.
	ErrSignature = errors.New("pgp: signature check failed")
	// ErrTooLarge: the message decompresses beyond MaxDecompressedSize.
	ErrTooLarge = errors.New("pgp: decompressed message is too large")
	// ErrNotEncrypted: the input is not an encrypted OpenPGP message.
	ErrNotEncrypted = errors.New("pgp: not an encrypted OpenPGP message")
)

// WrongKeyError says the message is encrypted for other keys than ours.
type WrongKeyError struct {
	Recipients []string // key ids the message is encrypted for
	Have       []string // key ids of the authorization's key
}

func (e *WrongKeyError) Error() string {
	rcpt := "no public key (passphrase-encrypted?)"
	if len(e.Recipients) > 0 {
		rcpt = "key " + strings.Join(e.Recipients, ", ")
	}
	return fmt.Sprintf("pgp: message is encrypted for %s, authorization has key %s",
		rcpt, strings.Join(e.Have, ", "))
}

// Options configure NewDecryptReader.
type Options struct {
	// Key decrypts the message. Required.
	Key *Key
	// RequiredSigner, when set, makes a message without a valid signature
	// by this key an error (ErrSignature) at EOF. When nil, signatures are
	// not checked.
	RequiredSigner *PublicKey
	// MaxDecompressedSize bounds compressed content; default
	// DefaultMaxDecompressedSize.
	MaxDecompressedSize int64
}

// Reader yields a message's plaintext. It is NOT verified until Read has
// returned io.EOF: integrity and signature failures are reported instead of
// io.EOF at the end.
type Reader struct {
	md       *openpgp.MessageDetails
	src      *errRecorder
	opts     Options
	read     int64
	err      error
	verified bool
}

// IsEncryptedMessage reports whether prefix (the first bytes of a stream;
// 64 are plenty) looks like an encrypted OpenPGP message, armored or binary.
func IsEncryptedMessage(prefix []byte) bool {
	t := bytes.TrimLeft(prefix, " \t\r\n")
	if bytes.HasPrefix(t, []byte("-----BEGIN PGP MESSAGE-----")) {
		return true
	}
	if len(prefix) == 0 || prefix[0]&0x80 == 0 {
		return false
	}
	var tag byte
	if prefix[0]&0x40 != 0 { // new format
		tag = prefix[0] & 0x3f
	} else {
		tag = (prefix[0] >> 2) & 0x0f
	}
	// Public-key or symmetric-key encrypted session key, or encrypted data.
	return tag == 1 || tag == 3 || tag == 18 || tag == 20
}

// NewDecryptReader starts decrypting r, armored or binary (detected from
// the content), compressed or not.
func NewDecryptReader(r io.Reader, opts Options) (*Reader, error) {
	if opts.Key == nil {
		return nil, errors.New("pgp: Options.Key is required")
	}
	if opts.MaxDecompressedSize <= 0 {
		opts.MaxDecompressedSize = DefaultMaxDecompressedSize
	}
	src := &errRecorder{r: r}
	br := bufio.NewReaderSize(src, 64<<10)
	prefix, _ := br.Peek(64)
	if !IsEncryptedMessage(prefix) {
		if src.err != nil {
			return nil, fmt.Errorf("pgp: reading message: %w", src.err)
		}
		return nil, ErrNotEncrypted
	}
	var body io.Reader = br
	if bytes.HasPrefix(bytes.TrimLeft(prefix, " \t\r\n"), []byte("-----BEGIN")) {
		block, err := armor.Decode(br)
		if err != nil {
			return nil, fmt.Errorf("%w: decoding armor: %v", ErrIntegrity, err)
		}
		body = block.Body
	}
	// Keep the head of the message so that a key mismatch can name the
	// recipients (ReadMessage returns no details with ErrKeyIncorrect).
	head := &headBuffer{max: 64 << 10}
	body = io.TeeReader(body, head)

	keyring := append(openpgp.EntityList{}, opts.Key.entities...)
	if opts.RequiredSigner != nil {
		keyring = append(keyring, opts.RequiredSigner.entities...)
	}
	limit := opts.MaxDecompressedSize
	cfg := &packet.Config{MaxDecompressedMessageSize: &limit}
	md, err := openpgp.ReadMessage(body, keyring, nil, cfg)
	if err != nil {
		if src.err != nil {
			return nil, fmt.Errorf("pgp: reading message: %w", src.err)
		}
		if errors.Is(err, pgperrors.ErrKeyIncorrect) {
			return nil, &WrongKeyError{Recipients: recipients(head.Bytes()), Have: opts.Key.KeyIDs()}
		}
		return nil, fmt.Errorf("%w: %v", ErrIntegrity, err)
	}
	if !md.IsEncrypted {
		return nil, ErrNotEncrypted
	}
	head.stop()
	return &Reader{md: md, src: src, opts: opts}, nil
}

// FileName is the name gpg stored in the message's literal data packet.
func (r *Reader) FileName() string {
	if r.md.LiteralData == nil {
		return ""
	}
	return r.md.LiteralData.FileName
}

// Verified reports whether the message was read to the end and passed every
// check.
func (r *Reader) Verified() bool { return r.verified }

// Read reads plaintext. At the end it returns io.EOF only when the
// message's integrity and (if required) signature checks passed.
func (r *Reader) Read(p []byte) (int, error) {
	if r.err != nil {
		return 0, r.err
	}
	n, err := r.md.UnverifiedBody.Read(p)
	r.read += int64(n)
	switch {
	case err == nil:
		return n, nil
	case err == io.EOF:
		if serr := r.checkSignature(); serr != nil {
			r.err = serr
			return n, serr
		}
		r.verified = true
		r.err = io.EOF
		return n, io.EOF
	case r.src.err != nil:
		// The transport failed; openpgp hides the cause behind a generic
		// parsing error.
		r.err = fmt.Errorf("pgp: reading message (data unverified): %w", r.src.err)
	case r.read >= nearLimit(r.opts.MaxDecompressedSize) || errors.Is(err, pgperrors.ErrMessageTooLarge):
		// openpgp reports the limit as a generic parsing error; the limit
		// counts packet headers too, so the plaintext stops a little short.
		r.err = fmt.Errorf("%w: more than %d bytes", ErrTooLarge, r.opts.MaxDecompressedSize)
	default:
		r.err = fmt.Errorf("%w: %v", ErrIntegrity, err)
	}
	return n, r.err
}

func nearLimit(limit int64) int64 { return limit - limit/64 - 1024 }

func (r *Reader) checkSignature() error {
	if r.opts.RequiredSigner == nil {
		return nil
	}
	want := r.opts.RequiredSigner.KeyIDs()
	if !r.md.IsSigned {
		return fmt.Errorf("%w: message is not signed, key %s must sign it", ErrSignature, want[0])
	}
	if r.md.SignatureError != nil {
		signer := "an unknown key"
		if c := r.md.SelectedCandidate; c != nil {
			signer = "key " + keyIDString(c.IssuerKeyId)
		}
		return fmt.Errorf("%w: signature by %s, key %s must sign it: %v", ErrSignature, signer, want[0], r.md.SignatureError)
	}
	if r.md.SignedBy == nil || r.md.SignedBy.Entity == nil {
		return fmt.Errorf("%w: no valid signature, key %s must sign it", ErrSignature, want[0])
	}
	got := r.md.SignedBy.Entity.PrimaryKey.Fingerprint
	for _, e := range r.opts.RequiredSigner.entities {
		if bytes.Equal(e.PrimaryKey.Fingerprint, got) {
			return nil
		}
	}
	return fmt.Errorf("%w: signed by key %s, key %s must sign it", ErrSignature,
		keyIDString(r.md.SignedBy.PublicKey.KeyId), want[0])
}

// recipients lists the key ids of the public-key session key packets at the
// start of a message.
func recipients(head []byte) []string {
	var ids []string
	pr := packet.NewReader(bytes.NewReader(head))
	for {
		p, err := pr.Next()
		if err != nil {
			return ids
		}
		switch p := p.(type) {
		case *packet.EncryptedKey:
			ids = append(ids, keyIDString(p.KeyId))
		case *packet.SymmetricKeyEncrypted:
		default:
			return ids
		}
	}
}

// errRecorder remembers the source's first error other than io.EOF, so that
// transport failures are told apart from integrity failures.
type errRecorder struct {
	r   io.Reader
	err error
}

func (e *errRecorder) Read(p []byte) (int, error) {
	n, err := e.r.Read(p)
	if err != nil && err != io.EOF && e.err == nil {
		e.err = err
	}
	return n, err
}

// headBuffer keeps up to max bytes written to it until stop is called.
type headBuffer struct {
	buf     bytes.Buffer
	max     int
	stopped bool
}

func (h *headBuffer) Write(p []byte) (int, error) {
	if !h.stopped && h.buf.Len() < h.max {
		room := h.max - h.buf.Len()
		if len(p) < room {
			room = len(p)
		}
		h.buf.Write(p[:room])
	}
	return len(p), nil
}

func (h *headBuffer) Bytes() []byte { return h.buf.Bytes() }

func (h *headBuffer) stop() { h.stopped = true; h.buf = bytes.Buffer{} }
