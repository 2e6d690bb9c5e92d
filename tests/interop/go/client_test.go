// Go clients of client-svc (Handshake, WatchHandshake) and of grpc.health.v1
// on both services, through stubs generated from proto/ by protoc-gen-go and
// protoc-gen-go-grpc. run.sh starts the services and sets CLIENT_ADDR and
// SERVER_ADDR.
package interop_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	handshakev1 "handshakeinterop/gen/handshake/v1"
)

// The thirteen steps, in order, as every report names them.
var stepNames = []string{
	"Client Hello", "Server Hello", "Server Certificate", "Server Hello Done",
	"Client Verification", "Gen pre-master", "Client Key Exchange", "Gen secret key",
	"Change Cipher Spec", "Encrypted Handshake Message",
	"Change Cipher Spec", "Encrypted Handshake Message", "Finish",
}

// The direction of each step as client-svc sees it (0: not checked).
var stepDirections = map[uint32]handshakev1.Direction{
	1: handshakev1.Direction_DIRECTION_SENT, 2: handshakev1.Direction_DIRECTION_RECEIVED,
	3: handshakev1.Direction_DIRECTION_RECEIVED, 4: handshakev1.Direction_DIRECTION_RECEIVED,
	5: handshakev1.Direction_DIRECTION_LOCAL, 6: handshakev1.Direction_DIRECTION_LOCAL,
	7: handshakev1.Direction_DIRECTION_SENT, 9: handshakev1.Direction_DIRECTION_SENT,
	10: handshakev1.Direction_DIRECTION_SENT, 11: handshakev1.Direction_DIRECTION_RECEIVED,
	12: handshakev1.Direction_DIRECTION_RECEIVED,
}

func addr(t *testing.T, name string) string {
	t.Helper()
	a := os.Getenv(name)
	if a == "" {
		t.Fatalf("%s is not set: run tests/interop/go/run.sh, which starts the services", name)
	}
	return a
}

func dial(t *testing.T, name string) *grpc.ClientConn {
	t.Helper()
	conn, err := grpc.NewClient(addr(t, name), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatalf("dial %s: %v", name, err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn
}

func timeout(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// Every real suite of the contract (not UNSPECIFIED, not the SCSV), by number.
func suites() []handshakev1.CipherSuite {
	var out []handshakev1.CipherSuite
	for name, v := range handshakev1.CipherSuite_value {
		if v == 0 || strings.HasSuffix(name, "_SCSV") {
			continue
		}
		out = append(out, handshakev1.CipherSuite(v))
	}
	sort.Slice(out, func(i, j int) bool { return out[i] < out[j] })
	return out
}

// The key exchange a suite's name implies.
func keyExchange(s handshakev1.CipherSuite) string {
	name := s.String()
	switch {
	case strings.Contains(name, "_ECDHE_ECDSA_"):
		return "ECDHE_ECDSA"
	case strings.Contains(name, "_ECDHE_RSA_"):
		return "ECDHE_RSA"
	default:
		return "RSA"
	}
}

// checkSteps: exactly the thirteen steps, numbered and named in order.
func checkSteps(t *testing.T, steps []*handshakev1.HandshakeStep) {
	t.Helper()
	if len(steps) != 13 {
		t.Fatalf("want 13 steps, got %d: %v", len(steps), steps)
	}
	var last uint64
	for i, s := range steps {
		if s.Number != uint32(i+1) || s.Name != stepNames[i] {
			t.Errorf("step %d is %d %q, want %d %q", i, s.Number, s.Name, i+1, stepNames[i])
		}
		if want, ok := stepDirections[s.Number]; ok && s.Direction != want {
			t.Errorf("step %d: direction %v, want %v", s.Number, s.Direction, want)
		}
		if s.Failure != nil {
			t.Errorf("step %d carries a failure: %v", s.Number, s.Failure)
		}
		if s.ElapsedMicros < last {
			t.Errorf("step %d: elapsed %d us before the previous step's %d", s.Number, s.ElapsedMicros, last)
		}
		last = s.ElapsedMicros
	}
	// The handshake messages as hashed into the transcript: ClientHello is
	// handshake type 1, ServerHello 2, Certificate 11, ClientKeyExchange 16.
	for n, typ := range map[int]byte{1: 1, 2: 2, 3: 11, 7: 16} {
		if m := steps[n-1].Message; len(m) < 4 || m[0] != typ {
			t.Errorf("step %d: message does not start with handshake type %d: % x", n, typ, m)
		}
	}
	// Step 4 is ServerHelloDone (14, empty body), after ServerKeyExchange
	// (12) for ECDHE suites: both messages as hashed, in one.
	if m := steps[3].Message; !bytes.HasSuffix(m, []byte{14, 0, 0, 0}) || (len(m) > 4 && m[0] != 12) {
		t.Errorf("step 4: message is not [ServerKeyExchange] ServerHelloDone: % x", m)
	}
}

// checkSuccess: a whole session that negotiated suite and echoed msg.
func checkSuccess(t *testing.T, r *handshakev1.HandshakeReport, suite handshakev1.CipherSuite, msg string) {
	t.Helper()
	checkSteps(t, r.Steps)
	if !r.Success || r.Failure != nil {
		t.Errorf("not a success: %v", r.Failure)
	}
	if r.SessionId == "" {
		t.Error("no session id")
	}
	if got := r.Negotiated.GetCipherSuite(); got != suite {
		t.Errorf("negotiated %v, want %v", got, suite)
	}
	if got, want := r.Negotiated.GetKeyExchange(), keyExchange(suite); got != want {
		t.Errorf("key exchange %q, want %q", got, want)
	}
	if !r.Negotiated.GetExtendedMasterSecret() {
		t.Error("extended master secret not used")
	}
	if len(r.CertificateChain) == 0 || !strings.HasPrefix(r.CertificateVerdict, "trusted for localhost") {
		t.Errorf("certificate: %d in the chain, verdict %q", len(r.CertificateChain), r.CertificateVerdict)
	}
	if r.ApplicationMessage != msg || r.Reply != "echo: "+msg {
		t.Errorf("sent %q, reply %q; want reply %q", r.ApplicationMessage, r.Reply, "echo: "+msg)
	}
	if r.Secrets != nil {
		t.Error("secrets in a report without the lab flag")
	}
}

func TestHandshakeEverySuite(t *testing.T) {
	client := handshakev1.NewHandshakeClientServiceClient(dial(t, "CLIENT_ADDR"))
	all := suites()
	if len(all) != 8 {
		t.Fatalf("want 8 suites in the contract, got %v", all)
	}
	for _, suite := range all {
		t.Run(strings.TrimPrefix(suite.String(), "CIPHER_SUITE_"), func(t *testing.T) {
			msg := "go interop " + suite.String()
			resp, err := client.Handshake(timeout(t), &handshakev1.HandshakeRequest{
				Options: &handshakev1.SessionOptions{
					CipherSuites:       []handshakev1.CipherSuite{suite},
					ApplicationMessage: msg,
				},
			})
			if err != nil {
				t.Fatalf("Handshake: %v", err)
			}
			checkSuccess(t, resp.Report, suite, msg)
		})
	}
}

func TestHandshakeDefaults(t *testing.T) {
	client := handshakev1.NewHandshakeClientServiceClient(dial(t, "CLIENT_ADDR"))
	resp, err := client.Handshake(timeout(t), &handshakev1.HandshakeRequest{Options: &handshakev1.SessionOptions{}})
	if err != nil {
		t.Fatalf("Handshake: %v", err)
	}
	r := resp.Report
	checkSteps(t, r.Steps)
	if !r.Success || r.ApplicationMessage != "hello" || r.Reply != "echo: hello" {
		t.Errorf("success %t, sent %q, reply %q", r.Success, r.ApplicationMessage, r.Reply)
	}
}

func TestWatchHandshakeStreamsStepsThenReport(t *testing.T) {
	client := handshakev1.NewHandshakeClientServiceClient(dial(t, "CLIENT_ADDR"))
	suite := handshakev1.CipherSuite_CIPHER_SUITE_TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384
	stream, err := client.WatchHandshake(timeout(t), &handshakev1.WatchHandshakeRequest{
		Options: &handshakev1.SessionOptions{
			CipherSuites:       []handshakev1.CipherSuite{suite},
			ApplicationMessage: "watched",
		},
	})
	if err != nil {
		t.Fatalf("WatchHandshake: %v", err)
	}
	var steps []*handshakev1.HandshakeStep
	var report *handshakev1.HandshakeReport
	for {
		ev, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("Recv after %d steps: %v", len(steps), err)
		}
		if report != nil {
			t.Fatalf("a message after the report: %v", ev)
		}
		switch e := ev.Event.(type) {
		case *handshakev1.WatchHandshakeResponse_Step:
			steps = append(steps, e.Step)
		case *handshakev1.WatchHandshakeResponse_Report:
			report = e.Report
		default:
			t.Fatalf("an event with neither step nor report: %v", ev)
		}
	}
	checkSteps(t, steps)
	if report == nil {
		t.Fatal("no report at the end of the stream")
	}
	checkSuccess(t, report, suite, "watched")
	for i := range steps {
		if !proto.Equal(steps[i], report.Steps[i]) {
			t.Errorf("streamed step %d differs from the report's:\n%v\n%v", i+1, steps[i], report.Steps[i])
		}
	}
}

// reportTypeURL is the Any type URL of the report in a failed status.
const reportTypeURL = "type.googleapis.com/handshake.v1.HandshakeReport"

// reportFromStatus is the HandshakeReport a failed session's status carries.
// client-svc sends a google.rpc.Status in grpc-status-details-bin (the same
// code and message as the status) with the report as its one Any detail, so
// grpc-go keeps the real code and status.Details() unpacks the report.
func reportFromStatus(t *testing.T, err error) *handshakev1.HandshakeReport {
	t.Helper()
	st := status.Convert(err)
	p := st.Proto()
	if len(p.GetDetails()) != 1 || p.GetDetails()[0].GetTypeUrl() != reportTypeURL {
		t.Fatalf("want one detail of type %s, got %v (status %v: %q)", reportTypeURL, p.GetDetails(), st.Code(), st.Message())
	}
	details := st.Details()
	r, ok := details[0].(*handshakev1.HandshakeReport)
	if !ok {
		t.Fatalf("status.Details() = %v, want a *HandshakeReport", details)
	}
	t.Logf("report in the details: %d bytes", proto.Size(r))
	return r
}

// checkFailure: the status, its metadata and the report of a failed session.
func checkFailure(t *testing.T, err error, trailer metadata.MD, code codes.Code,
	alert handshakev1.AlertDescription, alertName string, step uint32, byServer bool,
) *handshakev1.HandshakeReport {
	t.Helper()
	if err == nil {
		t.Fatal("the session succeeded")
	}
	st := status.Convert(err)
	if st.Code() != code {
		// grpc-go answers Internal when grpc-status-details-bin is not a
		// google.rpc.Status agreeing with grpc-status.
		t.Errorf("code %v (%q), want %v", st.Code(), st.Message(), code)
	}
	if !strings.Contains(st.Message(), alertName) {
		t.Errorf("message %q does not name %s", st.Message(), alertName)
	}
	if got := trailer.Get("tls-alert"); len(got) != 1 || got[0] != alertName {
		t.Errorf("tls-alert %v, want [%s]", got, alertName)
	}
	if got, want := trailer.Get("tls-step"), []string{strconv.FormatUint(uint64(step), 10)}; len(got) != 1 || got[0] != want[0] {
		t.Errorf("tls-step %v, want %v", got, want)
	}
	r := reportFromStatus(t, err)
	f := r.Failure
	if r.Success || f == nil {
		t.Fatalf("report: success %t, failure %v", r.Success, f)
	}
	if f.Alert != alert || f.Step != step || f.RaisedByServer != byServer || f.StepName != stepNames[step-1] {
		t.Errorf("failure %v; want alert %v at step %d %q, raised by server %t", f, alert, step, stepNames[step-1], byServer)
	}
	checkFailedSteps(t, r.Steps, f)
	return r
}

// checkFailedSteps: a failed session's steps are the steps done, numbered
// from 1, then one more entry for the failing step (its number again when
// that step's message was sent, as with step 10) carrying the failure.
func checkFailedSteps(t *testing.T, steps []*handshakev1.HandshakeStep, f *handshakev1.Failure) {
	t.Helper()
	if len(steps) == 0 {
		t.Fatal("no steps")
	}
	last := steps[len(steps)-1]
	if last.Failure == nil || !proto.Equal(last.Failure, f) || last.Number != f.Step {
		t.Errorf("the last step (%d %q) carries failure %v, want %v", last.Number, last.Name, last.Failure, f)
	}
	for i, s := range steps[:len(steps)-1] {
		if s.Number != uint32(i+1) || s.Name != stepNames[i] || s.Failure != nil {
			t.Errorf("step %d is %d %q (failure %v)", i+1, s.Number, s.Name, s.Failure)
		}
	}
}

func TestCorruptClientFinishedIsDecryptError(t *testing.T) {
	client := handshakev1.NewHandshakeClientServiceClient(dial(t, "CLIENT_ADDR"))
	var trailer metadata.MD
	_, err := client.Handshake(timeout(t), &handshakev1.HandshakeRequest{
		Options: &handshakev1.SessionOptions{Lab: &handshakev1.LabOptions{CorruptClientFinished: true}},
	}, grpc.Trailer(&trailer))
	r := checkFailure(t, err, trailer, codes.Unauthenticated,
		handshakev1.AlertDescription_ALERT_DESCRIPTION_DECRYPT_ERROR, "decrypt_error", 10, true)
	// Steps 1 to 10 (10: the client's Finished, sent), then step 10 again:
	// received, the server's decrypt_error alert.
	if len(r.Steps) != 11 || r.Steps[9].Direction != handshakev1.Direction_DIRECTION_SENT ||
		r.Steps[10].Direction != handshakev1.Direction_DIRECTION_RECEIVED {
		t.Errorf("want steps 1 to 10, then 10 received with the failure; got %v", r.Steps)
	}
	if r.Reply != "" {
		t.Errorf("a reply after a failed handshake: %q", r.Reply)
	}
}

func TestWatchHandshakeFailureEndsWithTheSameStatus(t *testing.T) {
	client := handshakev1.NewHandshakeClientServiceClient(dial(t, "CLIENT_ADDR"))
	stream, err := client.WatchHandshake(timeout(t), &handshakev1.WatchHandshakeRequest{
		Options: &handshakev1.SessionOptions{Lab: &handshakev1.LabOptions{CorruptClientFinished: true}},
	})
	if err != nil {
		t.Fatalf("WatchHandshake: %v", err)
	}
	var steps []*handshakev1.HandshakeStep
	for {
		ev, err := stream.Recv()
		if err == nil {
			if ev.GetReport() != nil {
				t.Fatal("a report on a failed session's stream")
			}
			steps = append(steps, ev.GetStep())
			continue
		}
		if errors.Is(err, io.EOF) {
			t.Fatal("the stream ended without an error")
		}
		r := checkFailure(t, err, stream.Trailer(), codes.Unauthenticated,
			handshakev1.AlertDescription_ALERT_DESCRIPTION_DECRYPT_ERROR, "decrypt_error", 10, true)
		// The streamed steps are the report's, the failing one last.
		if len(steps) != len(r.Steps) {
			t.Fatalf("streamed %d steps, the report in the status has %d", len(steps), len(r.Steps))
		}
		for i := range steps {
			// Details over 8 KiB go without messages, then without fields.
			want := proto.Clone(steps[i]).(*handshakev1.HandshakeStep)
			if len(r.Steps[i].Message) == 0 {
				want.Message = nil
			}
			if len(r.Steps[i].Fields) == 0 {
				want.Fields = nil
			}
			if !proto.Equal(want, r.Steps[i]) {
				t.Errorf("streamed step %d differs from the report's:\n%v\n%v", i+1, steps[i], r.Steps[i])
			}
		}
		return
	}
}

func TestWrongServerNameIsBadCertificate(t *testing.T) {
	client := handshakev1.NewHandshakeClientServiceClient(dial(t, "CLIENT_ADDR"))
	var trailer metadata.MD
	_, err := client.Handshake(timeout(t), &handshakev1.HandshakeRequest{
		Options: &handshakev1.SessionOptions{ServerName: "not-the-server.example"},
	}, grpc.Trailer(&trailer))
	r := checkFailure(t, err, trailer, codes.Unauthenticated,
		handshakev1.AlertDescription_ALERT_DESCRIPTION_BAD_CERTIFICATE, "bad_certificate", 5, false)
	if r.CertificateVerdict == "" || strings.HasPrefix(r.CertificateVerdict, "trusted") {
		t.Errorf("verdict %q", r.CertificateVerdict)
	}
}

func TestHealthServingOnBothServices(t *testing.T) {
	for _, c := range []struct{ env, service string }{
		{"SERVER_ADDR", handshakev1.HandshakeService_ServiceDesc.ServiceName},
		{"CLIENT_ADDR", handshakev1.HandshakeClientService_ServiceDesc.ServiceName},
	} {
		health := healthpb.NewHealthClient(dial(t, c.env))
		for _, name := range []string{"", c.service} {
			resp, err := health.Check(timeout(t), &healthpb.HealthCheckRequest{Service: name})
			if err != nil {
				t.Fatalf("%s Check(%q): %v", c.env, name, err)
			}
			if resp.Status != healthpb.HealthCheckResponse_SERVING {
				t.Errorf("%s Check(%q) = %v, want SERVING", c.env, name, resp.Status)
			}
		}
		_, err := health.Check(timeout(t), &healthpb.HealthCheckRequest{Service: "no.such.Service"})
		if status.Code(err) != codes.NotFound {
			t.Errorf("%s Check of an unknown service: %v, want NotFound", c.env, err)
		}
	}
}
