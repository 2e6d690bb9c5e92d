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

const path = require('node:path');
const grpc = require('@grpc/grpc-js');
const protoLoader = require('@grpc/proto-loader');

const PROTO_ROOT = path.resolve(__dirname, '..', '..', '..', 'proto');

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

// client-svc puts the report so far, a serialized HandshakeReport, in the
// status details (trailer grpc-status-details-bin; not a google.rpc.Status).
// HandshakeResponse is {report = 1}, so prefixing field 1's tag and length
// lets the method's own deserializer decode it with the options above.
function reportFromStatus(err) {
  const details = err.metadata && err.metadata.get('grpc-status-details-bin')[0];
  if (!Buffer.isBuffer(details) || details.length === 0) return null;
  const len = [];
  for (let n = details.length; ; n >>>= 7) {
    if (n < 0x80) { len.push(n); break; }
    len.push((n & 0x7f) | 0x80);
  }
  const wrapped = Buffer.concat([Buffer.from([0x0a, ...len]), details]);
  try {
    return proto.HandshakeClientService.service.Handshake.responseDeserialize(wrapped).report;
  } catch {
    return null;
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

module.exports = { grpc, proto, packageDefinition, LOADER_OPTIONS, SUITES, newClient, handshake, suiteEnum, formatStep };

if (require.main === module) {
  main(process.argv.slice(2)).then((code) => { process.exitCode = code; });
}
