package argon2

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"testing"

	upstream "golang.org/x/crypto/argon2"
)

// rfcArgon2id is the Argon2id test vector of RFC 9106, section 5.3.
var rfcArgon2id = struct {
	password, salt, secret, data []byte
	time, memory                 uint32
	threads                      uint8
	tag                          string
}{
	password: bytes.Repeat([]byte{0x01}, 32),
	salt:     bytes.Repeat([]byte{0x02}, 16),
	secret:   bytes.Repeat([]byte{0x03}, 8),
	data:     bytes.Repeat([]byte{0x04}, 12),
	time:     3, memory: 32, threads: 4,
	tag: "0d640df58d78766c08c037a34a8b53c9d01ef0452d75b65eb52520e96b01e659",
}

// TestRFC9106Vector computes the RFC's Argon2id vector in fresh memory and again in
// memory another computation left dirty, with the assembly and the generic code.
func TestRFC9106Vector(t *testing.T) {
	defer func(sse4, lsx bool) { useSSE4, useLSX = sse4, lsx }(useSSE4, useLSX)
	for _, vector := range []bool{true, false} {
		if !vector {
			useSSE4, useLSX = false, false
		}
		v := rfcArgon2id
		var m Memory
		for _, dirty := range []bool{false, true} {
			got := hex.EncodeToString(deriveKey(&m, argon2id, v.password, v.salt, v.secret, v.data, v.time, v.memory, v.threads, 32))
			if got != v.tag {
				t.Errorf("SSE4 %v, LSX %v, memory reused %v: tag %s, want %s", useSSE4, useLSX, dirty, got, v.tag)
			}
		}
	}
}

// TestIDKeyEqualsUpstream checks that IDKey derives upstream's key whatever the memory
// holds: one Memory serves every case in turn (growing, shrinking, other lanes), so each
// case but the first runs in blocks the one before left.
func TestIDKeyEqualsUpstream(t *testing.T) {
	var m Memory
	cases := []struct {
		time, memory uint32
		threads      uint8
	}{
		{1, 64, 1}, {2, 64, 1}, {2, 64, 2}, {3, 256, 2}, {2, 1024, 1}, {1, 8, 1},
		{4, 4096, 4}, {2, 19456, 1}, {2, 19456, 1}, {1, 100, 3}, {3, 512, 1}, {2, 19456, 2},
	}
	for i, c := range cases {
		password, salt := make([]byte, 1+i*5), make([]byte, 16)
		_, _ = rand.Read(password)
		_, _ = rand.Read(salt)
		t.Run(fmt.Sprintf("t=%d,m=%d,p=%d", c.time, c.memory, c.threads), func(t *testing.T) {
			want := upstream.IDKey(password, salt, c.time, c.memory, c.threads, 32)
			if got := IDKey(&m, password, salt, c.time, c.memory, c.threads, 32); !bytes.Equal(got, want) {
				t.Fatalf("key %x, upstream's %x", got, want)
			}
		})
	}
	if m.Size() != 19456 {
		t.Fatalf("the memory holds %d KiB after the largest cost 19456", m.Size())
	}
}

func BenchmarkIDKey(b *testing.B) {
	password, salt := []byte("correct horse battery staple"), make([]byte, 16)
	b.Run("upstream", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			upstream.IDKey(password, salt, 2, 19456, 1, 32)
		}
	})
	b.Run("reused", func(b *testing.B) {
		b.ReportAllocs()
		var m Memory
		for b.Loop() {
			IDKey(&m, password, salt, 2, 19456, 1, 32)
		}
	})
}
