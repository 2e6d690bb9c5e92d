#!/usr/bin/env node
// A small Node client of client-svc's Handshake, built from proto/ at run
// time with @grpc/proto-loader (no generated code).
//
//   node client.js HOST:PORT [SUITE]
//
// runs one session through client-svc at HOST:PORT, offering only SUITE
// (e.g. TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256; default: every suite), and
// prints its thirteen steps, the suite agreed and the server's reply. A failed
// session prints the gRPC status, its tls-alert and tls-step metadata and the
// steps done so far (from the status details), and exits 1.
'use strict';

const fs = require('node:fs');
const path = require('node:path');
const grpc = require('@grpc/grpc-js');
const protoLoader = require('@grpc/proto-loader');
const protobuf = require('protobufjs');

const PROTO_ROOT = path.resolve(__dirname, '..', '..', '..', 'proto');
// google/rpc/status.proto, copied verbatim from googleapis (by way of the
// googleapis-common-protos package): one small file instead of a package
// holding every Google API proto.
const VENDORED_PROTO_ROOT = path.join(__dirname, 'proto');

// Options used everywhere here: field names in lowerCamelCase (as grpcurl's
// JSON), enums as their names ("CIPHER_SUITE_..."), 64-bit integers as
// decimal strings, unset fields as their defaults, and a `virtual` field
// naming the member set in each oneof.
const LOADER_OPTIONS = {
  keepCase: false,
  enums: String,
  longs: String,
  defaults: true,
  oneofs: true,
  includeDirs: [PROTO_ROOT],
};

const packageDefinition = protoLoader.loadSync('handshake/v1/service.proto', LOADER_OPTIONS);
const proto = grpc.loadPackageDefinition(packageDefinition).handshake.v1;

// The suite names the proto defines (without the CIPHER_SUITE_ prefix),
// leaving out UNSPECIFIED and the renegotiation SCSV, which is not a suite.
const SUITES = packageDefinition['handshake.v1.CipherSuite'].type.value
  .map((v) => v.name.replace(/^CIPHER_SUITE_/, ''))
  .filter((n) => n !== 'UNSPECIFIED' && n !== 'TLS_EMPTY_RENEGOTIATION_INFO_SCSV');

/** A client of client-svc (HandshakeClientService) at `address` (host:port). */
function newClient(address) {
  return new proto.HandshakeClientService(address, grpc.credentials.createInsecure());
}

/**
 * Runs one session through `client`: resolves with the HandshakeReport, or
 * rejects with the gRPC error (err.code, err.details, err.metadata; err.report
 * is the report so far from the status details, when there is one).
 * `options` is a SessionOptions, e.g. {cipherSuites: ['CIPHER_SUITE_...'],
 * applicationMessage: 'hi', lab: {corruptClientFinished: true}}.
 */
function handshake(client, options = {}, timeoutMs = 10000) {
  return new Promise((resolve, reject) => {
    const deadline = new Date(Date.now() + timeoutMs);
    client.Handshake({ options }, { deadline }, (err, response) => {
      if (err) {
        err.report = reportFromStatus(err);
        reject(err);
      } else {
        resolve(response.report);
      }
    });
  });
}

// The type URL of the report packed in a failed session's status details.
const REPORT_TYPE_URL = 'type.googleapis.com/handshake.v1.HandshakeReport';

// The status details are a google.rpc.Status. proto-loader makes decoders
// only for RPC messages, so the details are decoded with protobufjs (the
// library proto-loader is built on) from the same .proto files.
const detailsRoot = new protobuf.Root();
detailsRoot.resolvePath = (origin, target) => {
  for (const dir of [PROTO_ROOT, VENDORED_PROTO_ROOT]) {
    const candidate = path.join(dir, target);
    if (fs.existsSync(candidate)) return candidate;
  }
  return target; // google/protobuf/any.proto: bundled with protobufjs
};
detailsRoot.loadSync(['google/rpc/status.proto', 'handshake/v1/service.proto'], { keepCase: false });
const RpcStatus = detailsRoot.lookupType('google.rpc.Status');
const HandshakeReport = detailsRoot.lookupType('handshake.v1.HandshakeReport');

/**
 * The google.rpc.Status in a failed call's status details (trailer
 * grpc-status-details-bin) as {code, message, details: [{type_url, value}]}
 * (protobufjs' bundled Any keeps its snake_case field names),
 * or null when there are none. client-svc sends the call's own code and
 * message there, with the report so far as the one detail.
 */
function richStatus(err) {
  const raw = err.metadata && err.metadata.get('grpc-status-details-bin')[0];
  if (!Buffer.isBuffer(raw) || raw.length === 0) return null;
  return RpcStatus.toObject(RpcStatus.decode(raw), { defaults: true });
}

/** The HandshakeReport packed in a failed call's status details, or null. */
function reportFromStatus(err) {
  try {
    const status = richStatus(err);
    const packed = status && status.details.find((d) => d.type_url === REPORT_TYPE_URL);
    if (!packed) return null;
    // The same object shape as proto-loader's (it passes these options to
    // protobufjs' toObject too).
    return HandshakeReport.toObject(HandshakeReport.decode(packed.value), LOADER_OPTIONS);
  } catch {
    return null; // details that are not a google.rpc.Status with a report
  }
}

/** "CIPHER_SUITE_TLS_..." for "TLS_..." or "CIPHER_SUITE_TLS_...". */
function suiteEnum(name) {
  return name.startsWith('CIPHER_SUITE_') ? name : `CIPHER_SUITE_${name}`;
}

function formatStep(step) {
  const dir = step.direction.replace(/^DIRECTION_/, '').toLowerCase();
  const head = `${String(step.number).padStart(2)} ${step.name.padEnd(29)} ${dir.padEnd(8)}`;
  const fields = step.fields.map((f) => `${f.name}=${f.value}`).join(' ');
  return `${head} ${fields}`.trimEnd();
}

async function main(argv) {
  const [address, suite] = argv;
  if (!address || argv.length > 2) {
    console.error('usage: node client.js HOST:PORT [SUITE]');
    console.error(`suites: ${SUITES.join(' ')}`);
    return 2;
  }
  const options = { applicationMessage: 'hello from node' };
  if (suite) {
    if (!SUITES.includes(suite.replace(/^CIPHER_SUITE_/, ''))) {
      console.error(`error: unknown suite ${suite}; one of: ${SUITES.join(' ')}`);
      return 2;
    }
    options.cipherSuites = [suiteEnum(suite)];
  }
  const client = newClient(address);
  try {
    const report = await handshake(client, options);
    for (const step of report.steps) console.log(formatStep(step));
    const n = report.negotiated;
    console.log(`suite ${n.cipherSuite.replace(/^CIPHER_SUITE_/, '')}, ${n.keyExchange}` +
      `${n.group !== 'NAMED_GROUP_UNSPECIFIED' ? ` ${n.group.replace(/^NAMED_GROUP_/, '')}` : ''}` +
      `, extended master secret ${n.extendedMasterSecret}`);
    console.log(`session ${report.sessionId}: ${report.success ? 'ok' : 'failed'} in ` +
      `${report.totalMicros} µs, reply ${JSON.stringify(report.reply)}`);
    return report.success ? 0 : 1;
  } catch (err) {
    console.error(`error: ${grpc.status[err.code]} (${err.code}): ${err.details}`);
    const alert = err.metadata && err.metadata.get('tls-alert')[0];
    const step = err.metadata && err.metadata.get('tls-step')[0];
    if (alert) console.error(`tls-alert ${alert}, tls-step ${step}`);
    if (err.report) for (const s of err.report.steps) console.error(formatStep(s));
    return 1;
  } finally {
    client.close();
  }
}

module.exports = {
  grpc, proto, packageDefinition, LOADER_OPTIONS, SUITES, REPORT_TYPE_URL,
  newClient, handshake, richStatus, reportFromStatus, suiteEnum, formatStep,
};

if (require.main === module) {
  main(process.argv.slice(2)).then((code) => { process.exitCode = code; });
}
