// Command handshake runs one TLS 1.2 session through client-svc's gRPC API
// (WatchHandshake) and prints each of the thirteen steps as it happens, then
// the outcome.
//
//	go run ./cmd/handshake HOST:PORT [SUITE]
//
// HOST:PORT is client-svc's gRPC address (plaintext); SUITE, e.g.
// TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256 (the CIPHER_SUITE_ prefix is
// optional), makes client-svc offer only that suite. It exits 1 when the
// session fails, printing the gRPC status and its tls-alert and tls-step
// metadata.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	handshakev1 "handshakeinterop/gen/handshake/v1"
)

func main() {
	if len(os.Args) < 2 || len(os.Args) > 3 {
		fmt.Fprintln(os.Stderr, "usage: handshake HOST:PORT [SUITE]")
		os.Exit(2)
	}
	suite := ""
	if len(os.Args) == 3 {
		suite = os.Args[2]
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := run(ctx, os.Args[1], suite, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "error:", err)
		os.Exit(1)
	}
}

// parseSuite turns "TLS_..." or "CIPHER_SUITE_TLS_..." into the enum value.
func parseSuite(name string) (handshakev1.CipherSuite, error) {
	name = "CIPHER_SUITE_" + strings.TrimPrefix(strings.ToUpper(name), "CIPHER_SUITE_")
	v, ok := handshakev1.CipherSuite_value[name]
	if !ok || v == 0 {
		return 0, fmt.Errorf("unknown cipher suite %q", name)
	}
	return handshakev1.CipherSuite(v), nil
}

// run watches one session through client-svc at addr and writes its steps
// and outcome to out.
func run(ctx context.Context, addr, suite string, out io.Writer) error {
	opts := &handshakev1.SessionOptions{ApplicationMessage: "hello from Go"}
	if suite != "" {
		s, err := parseSuite(suite)
		if err != nil {
			return err
		}
		opts.CipherSuites = []handshakev1.CipherSuite{s}
	}

	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return err
	}
	defer conn.Close()
	client := handshakev1.NewHandshakeClientServiceClient(conn)

	stream, err := client.WatchHandshake(ctx, &handshakev1.WatchHandshakeRequest{Options: opts})
	if err != nil {
		return err
	}
	for {
		ev, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			return errors.New("the stream ended without a report")
		}
		if err != nil {
			// A failed session: the code says what kind of failure, the
			// metadata which alert at which step.
			st := status.Convert(err)
			md := stream.Trailer()
			return fmt.Errorf("%s: %s (tls-alert %s, tls-step %s)",
				st.Code(), st.Message(), md.Get("tls-alert"), md.Get("tls-step"))
		}
		switch e := ev.Event.(type) {
		case *handshakev1.WatchHandshakeResponse_Step:
			s := e.Step
			dir := strings.ToLower(strings.TrimPrefix(s.Direction.String(), "DIRECTION_"))
			fmt.Fprintf(out, "%2d. %-28s %-8s %7d us\n", s.Number, s.Name, dir, s.DurationMicros)
			if f := s.Failure; f != nil {
				fmt.Fprintf(out, "    failed: %s (%s)\n", f.Alert, f.Reason)
			}
		case *handshakev1.WatchHandshakeResponse_Report:
			r := e.Report
			fmt.Fprintf(out, "%s via %s, %s\n", r.Negotiated.GetCipherSuite(),
				r.Negotiated.GetKeyExchange(), r.CertificateVerdict)
			fmt.Fprintf(out, "sent %q, got %q in %d us (success: %t)\n",
				r.ApplicationMessage, r.Reply, r.TotalMicros, r.Success)
			return nil
		}
	}
}
