// client-svc's Handshake from Node (@grpc/grpc-js + @grpc/proto-loader),
// against the real server-svc and client-svc that run.sh starts
// (CLIENT_ADDR=host:port of client-svc).
'use strict';

const test = require('node:test');
const assert = require('node:assert/strict');
const {
  grpc, proto, SUITES, REPORT_TYPE_URL, newClient, handshake, richStatus, reportFromStatus, suiteEnum,
} = require('./client.js');

const CLIENT_ADDR = process.env.CLIENT_ADDR;

// The thirteen steps of the README, in order, with their direction as seen
// from client-svc.
const STEPS = [
  ['Client Hello', 'DIRECTION_SENT'],
  ['Server Hello', 'DIRECTION_RECEIVED'],
  ['Server Certificate', 'DIRECTION_RECEIVED'],
  ['Server Hello Done', 'DIRECTION_RECEIVED'],
  ['Client Verification', 'DIRECTION_LOCAL'],
  ['Gen pre-master', 'DIRECTION_LOCAL'],
  ['Client Key Exchange', 'DIRECTION_SENT'],
  ['Gen secret key', 'DIRECTION_LOCAL'],
  ['Change Cipher Spec', 'DIRECTION_SENT'],
  ['Encrypted Handshake Message', 'DIRECTION_SENT'],
  ['Change Cipher Spec', 'DIRECTION_RECEIVED'],
  ['Encrypted Handshake Message', 'DIRECTION_RECEIVED'],
  ['Finish', 'DIRECTION_LOCAL'],
];

// The eight suites the README lists; the proto must define exactly these.
const EXPECTED_SUITES = [
  'TLS_RSA_WITH_AES_128_GCM_SHA256',
  'TLS_RSA_WITH_AES_256_GCM_SHA384',
  'TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256',
  'TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384',
  'TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256',
  'TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384',
  'TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256',
  'TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256',
];

let client;
test.before(() => {
  assert.ok(CLIENT_ADDR, 'CLIENT_ADDR (host:port of client-svc) must be set; run.sh sets it');
  client = newClient(CLIENT_ADDR);
});
test.after(() => client && client.close());

test('the proto defines the eight suites', () => {
  assert.deepEqual([...SUITES].sort(), [...EXPECTED_SUITES].sort());
});

test('reportFromStatus: null without details, or when they hold no packed report', () => {
  const withDetails = (bytes) => {
    const metadata = new grpc.Metadata();
    if (bytes) metadata.set('grpc-status-details-bin', bytes);
    return { metadata };
  };
  assert.equal(reportFromStatus(withDetails(null)), null);
  assert.equal(richStatus(withDetails(null)), null);
  // A bare HandshakeReport (what client-svc sent before), not a google.rpc.Status.
  const bare = proto.HandshakeClientService.service.Handshake.responseSerialize({
    report: { sessionId: 'x', success: false },
  }).subarray(2);
  assert.equal(reportFromStatus(withDetails(bare)), null);
  assert.equal(reportFromStatus(withDetails(Buffer.from([0xff, 0xff, 0xff]))), null);
});

for (const suite of EXPECTED_SUITES) {
  test(`Handshake ${suite}: thirteen steps, success, echo`, async () => {
    const message = `hi from node over ${suite}`;
    const report = await handshake(client, {
      cipherSuites: [suiteEnum(suite)],
      applicationMessage: message,
    });
    assert.deepEqual(
      report.steps.map((s) => [s.number, s.name, s.direction]),
      STEPS.map(([name, dir], i) => [i + 1, name, dir]),
    );
    for (const s of report.steps) {
      assert.equal(s.failure, null, `step ${s.number} carries no failure`);
      assert.ok(s.fields.length > 0, `step ${s.number} has fields`);
    }
    assert.equal(report.success, true);
    assert.equal(report.failure, null);
    assert.equal(report.negotiated.cipherSuite, suiteEnum(suite));
    assert.equal(report.negotiated.keyExchange, suite.match(/^TLS_(ECDHE_RSA|ECDHE_ECDSA|RSA)_WITH/)[1]);
    assert.match(report.certificateVerdict, /^trusted for /);
    assert.equal(report.applicationMessage, message);
    assert.equal(report.reply, `echo: ${message}`);
    assert.match(report.sessionId, /\S/);
    assert.match(report.totalMicros, /^[0-9]+$/, 'uint64 as a decimal string');
  });
}

test('lab corrupt_client_finished: UNAUTHENTICATED, tls-alert decrypt_error at step 10', async () => {
  const err = await handshake(client, {
    cipherSuites: [suiteEnum('TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256')],
    lab: { corruptClientFinished: true },
  }).then(
    (report) => assert.fail(`expected a failed session, got ${JSON.stringify(report)}`),
    (e) => e,
  );
  assert.equal(err.code, grpc.status.UNAUTHENTICATED);
  assert.equal(err.code, 16);
  assert.match(err.details, /decrypt_error/);
  assert.deepEqual(err.metadata.get('tls-alert'), ['decrypt_error']);
  assert.deepEqual(err.metadata.get('tls-step'), ['10']);
  // The status details: a google.rpc.Status with the call's own code and
  // message, the report so far packed in an Any.
  const status = richStatus(err);
  assert.ok(status, 'the call has status details');
  assert.equal(status.code, grpc.status.UNAUTHENTICATED);
  assert.equal(status.message, err.details);
  assert.deepEqual(status.details.map((d) => d.type_url), [REPORT_TYPE_URL]);
  assert.ok(err.report, 'the status details carry a HandshakeReport');
  assert.equal(err.report.success, false);
  assert.equal(err.report.failure.step, 10);
  assert.equal(err.report.failure.alert, 'ALERT_DESCRIPTION_DECRYPT_ERROR');
  assert.equal(err.report.failure.raisedByServer, true);
  const last = err.report.steps[err.report.steps.length - 1];
  assert.equal(last.number, 10);
  assert.equal(last.failure.alert, 'ALERT_DESCRIPTION_DECRYPT_ERROR');
});
