// notation-sign: test tooling for Portcullis's Notation interop tests. It signs with the Notary
// Project's own Go library (notation-go), so the tests verify envelopes Portcullis did not write.
//
//	notation-sign sign     --key K --certs C --ref HOST/REPO(@DIGEST|:TAG) [--envelope jws|cose]
//	                       [--tsa-key K --tsa-certs C] [--expiry DURATION] [--plain-http]
//	notation-sign envelope --key K --certs C --descriptor JSON [--envelope jws|cose]
//	                       [--tsa-key K --tsa-certs C] [--expiry DURATION] --out FILE
//
// `sign` pushes the signature to the registry as notation does (referrers API, or the tag-schema
// fallback). `envelope` writes the raw envelope for a descriptor without any registry. With
// --tsa-key/--tsa-certs, an RFC 3161 timestamp authority runs in this process on loopback for the
// duration of the signing, signing with that key; the first certificate is the TSA's, the last
// its root. Keys and certificates are PEM files.
package main

import (
	"context"
	"crypto"
	"crypto/rand"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"time"

	"github.com/digitorus/timestamp"
	_ "github.com/notaryproject/notation-core-go/signature/cose"
	_ "github.com/notaryproject/notation-core-go/signature/jws"
	"github.com/notaryproject/notation-go"
	"github.com/notaryproject/notation-go/registry"
	"github.com/notaryproject/notation-go/signer"
	"github.com/notaryproject/tspclient-go"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	orasregistry "oras.land/oras-go/v2/registry"
	"oras.land/oras-go/v2/registry/remote"
)

func main() {
	if len(os.Args) < 2 {
		fail(errors.New("usage: notation-sign sign|envelope [flags]"))
	}
	cmd := os.Args[1]
	fs := flag.NewFlagSet(cmd, flag.ExitOnError)
	keyPath := fs.String("key", "", "signing key (PEM)")
	certsPath := fs.String("certs", "", "certificate chain, leaf first (PEM)")
	envelope := fs.String("envelope", "jws", "jws or cose")
	tsaKey := fs.String("tsa-key", "", "TSA signing key (PEM); enables timestamping")
	tsaCerts := fs.String("tsa-certs", "", "TSA certificate chain, TSA certificate first (PEM)")
	expiry := fs.Duration("expiry", 0, "signature expiry after signing time")
	ref := fs.String("ref", "", "sign: HOST/REPO@DIGEST or HOST/REPO:TAG")
	plainHTTP := fs.Bool("plain-http", false, "sign: talk plain HTTP to the registry")
	descriptor := fs.String("descriptor", "", "envelope: OCI descriptor JSON to sign")
	out := fs.String("out", "", "envelope: output file")
	if err := fs.Parse(os.Args[2:]); err != nil {
		fail(err)
	}
	key, err := readKey(*keyPath)
	if err != nil {
		fail(err)
	}
	certs, err := readCerts(*certsPath)
	if err != nil {
		fail(err)
	}
	s, err := signer.NewGenericSigner(key, certs)
	if err != nil {
		fail(err)
	}
	opts := notation.SignerSignOptions{SignatureMediaType: mediaType(*envelope), ExpiryDuration: *expiry}
	if *tsaKey != "" {
		stop, err := withTimestamper(&opts, *tsaKey, *tsaCerts)
		if err != nil {
			fail(err)
		}
		defer stop()
	}
	ctx := context.Background()
	switch cmd {
	case "sign":
		parsed, err := orasregistry.ParseReference(*ref)
		if err != nil {
			fail(fmt.Errorf("--ref: %w", err))
		}
		repo, err := remote.NewRepository(parsed.Registry + "/" + parsed.Repository)
		if err != nil {
			fail(err)
		}
		repo.PlainHTTP = *plainHTTP
		desc, err := notation.Sign(ctx, s, registry.NewRepository(repo), notation.SignOptions{
			SignerSignOptions: opts,
			ArtifactReference: *ref,
		})
		if err != nil {
			fail(err)
		}
		fmt.Println(desc.Digest)
	case "envelope":
		var desc ocispec.Descriptor
		if err := json.Unmarshal([]byte(*descriptor), &desc); err != nil {
			fail(fmt.Errorf("--descriptor: %w", err))
		}
		sig, _, err := s.Sign(ctx, desc, opts)
		if err != nil {
			fail(err)
		}
		if err := os.WriteFile(*out, sig, 0o644); err != nil {
			fail(err)
		}
	default:
		fail(fmt.Errorf("unknown command %q", cmd))
	}
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "notation-sign:", err)
	os.Exit(1)
}

func mediaType(envelope string) string {
	if envelope == "cose" {
		return "application/cose"
	}
	return "application/jose+json"
}

func readKey(path string) (crypto.Signer, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	block, _ := pem.Decode(data)
	if block == nil {
		return nil, fmt.Errorf("%s: no PEM block", path)
	}
	if k, err := x509.ParsePKCS8PrivateKey(block.Bytes); err == nil {
		return k.(crypto.Signer), nil
	}
	if k, err := x509.ParseECPrivateKey(block.Bytes); err == nil {
		return k, nil
	}
	return x509.ParsePKCS1PrivateKey(block.Bytes)
}

func readCerts(path string) ([]*x509.Certificate, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var certs []*x509.Certificate
	for {
		var block *pem.Block
		block, data = pem.Decode(data)
		if block == nil {
			break
		}
		c, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			return nil, err
		}
		certs = append(certs, c)
	}
	if len(certs) == 0 {
		return nil, fmt.Errorf("%s: no certificates", path)
	}
	return certs, nil
}

// withTimestamper serves an RFC 3161 TSA on a loopback port and points opts at it.
func withTimestamper(opts *notation.SignerSignOptions, keyPath, certsPath string) (func(), error) {
	key, err := readKey(keyPath)
	if err != nil {
		return nil, err
	}
	chain, err := readCerts(certsPath)
	if err != nil {
		return nil, err
	}
	listener, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	server := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(io.LimitReader(r.Body, 1<<16))
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		resp, err := stamp(body, key, chain)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		w.Header().Set("Content-Type", "application/timestamp-reply")
		_, _ = w.Write(resp)
	}), ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = server.Serve(listener) }()
	ts, err := tspclient.NewHTTPTimestamper(nil, "http://"+listener.Addr().String())
	if err != nil {
		return nil, err
	}
	roots := x509.NewCertPool()
	roots.AddCert(chain[len(chain)-1])
	opts.Timestamper = ts
	opts.TSARootCAs = roots
	return func() { _ = server.Close() }, nil
}

func stamp(body []byte, key crypto.Signer, chain []*x509.Certificate) ([]byte, error) {
	req, err := timestamp.ParseRequest(body)
	if err != nil {
		return nil, err
	}
	serial, err := rand.Int(rand.Reader, big.NewInt(1<<62))
	if err != nil {
		return nil, err
	}
	t := timestamp.Timestamp{
		HashAlgorithm:     req.HashAlgorithm,
		HashedMessage:     req.HashedMessage,
		Time:              time.Now().UTC().Truncate(time.Second),
		Accuracy:          time.Second,
		SerialNumber:      serial,
		Policy:            []int{1, 3, 6, 1, 4, 1, 57264, 99, 1},
		Nonce:             req.Nonce,
		AddTSACertificate: true,
		Certificates:      chain[1:],
	}
	return t.CreateResponseWithOpts(chain[0], key, crypto.SHA256)
}
