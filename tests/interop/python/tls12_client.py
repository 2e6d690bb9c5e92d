"""An independent TLS 1.2 client of server-svc's HandshakeService.Connect.

Written from the comments of proto/handshake/v1/{tls,service}.proto and
RFC 5246 / 7627 / 8422 / 5288 / 7905 alone, with the `cryptography` package
for the primitives and no code of this project: the proof that the gRPC
contract is enough to take part in a session. The transcript is kept as the
RFC 5246 encodings of the handshake messages, built here from the protobuf
fields as the .proto describes; the TLS PRF (RFC 5246 section 5) is written
here on top of HMAC.

    python tls12_client.py HOST:PORT CA_FILE [SUITE] [--server-name NAME] [--message TEXT]
"""

from __future__ import annotations

import argparse
import datetime
import ipaddress
import os
import queue
import struct
import sys
from dataclasses import dataclass, field

_HERE = os.path.dirname(os.path.abspath(__file__))
if os.path.join(_HERE, "gen") not in sys.path:
    sys.path.insert(0, os.path.join(_HERE, "gen"))

import grpc  # noqa: E402
from cryptography import x509  # noqa: E402
from cryptography.exceptions import InvalidSignature, InvalidTag  # noqa: E402
from cryptography.hazmat.primitives import hashes, hmac, serialization  # noqa: E402
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa, x25519  # noqa: E402
from cryptography.hazmat.primitives.ciphers.aead import AESGCM, ChaCha20Poly1305  # noqa: E402
from cryptography.x509.verification import PolicyBuilder, Store, VerificationError  # noqa: E402

from handshake.v1 import service_pb2, service_pb2_grpc, tls_pb2  # noqa: E402

TLS12 = 0x0303

# Handshake types (RFC 5246 7.4).
HT_CLIENT_HELLO = 1
HT_SERVER_HELLO = 2
HT_CERTIFICATE = 11
HT_SERVER_KEY_EXCHANGE = 12
HT_SERVER_HELLO_DONE = 14
HT_CLIENT_KEY_EXCHANGE = 16
HT_FINISHED = 20

# Content types (RFC 5246 6.2.1).
CT_ALERT = 21
CT_HANDSHAKE = 22
CT_APPLICATION_DATA = 23

# Extension types.
EXT_SERVER_NAME = 0
EXT_SUPPORTED_GROUPS = 10
EXT_EC_POINT_FORMATS = 11
EXT_SIGNATURE_ALGORITHMS = 13
EXT_EXTENDED_MASTER_SECRET = 23
EXT_RENEGOTIATION_INFO = 0xFF01

# Alert descriptions (RFC 5246 7.2) used by this client.
ALERT_CLOSE_NOTIFY = 0
ALERT_UNEXPECTED_MESSAGE = 10
ALERT_BAD_RECORD_MAC = 20
ALERT_HANDSHAKE_FAILURE = 40
ALERT_BAD_CERTIFICATE = 42
ALERT_UNSUPPORTED_CERTIFICATE = 43
ALERT_CERTIFICATE_EXPIRED = 45
ALERT_ILLEGAL_PARAMETER = 47
ALERT_UNKNOWN_CA = 48
ALERT_DECODE_ERROR = 50
ALERT_DECRYPT_ERROR = 51
ALERT_PROTOCOL_VERSION = 70
ALERT_INSUFFICIENT_SECURITY = 71
ALERT_UNSUPPORTED_EXTENSION = 110

# Groups (RFC 8422 5.1.1 / RFC 7748).
GROUP_SECP256R1 = 23
GROUP_SECP384R1 = 24
GROUP_X25519 = 29
DEFAULT_GROUPS = (GROUP_X25519, GROUP_SECP256R1, GROUP_SECP384R1)

# Signature schemes: (hash, kind) with kind "pkcs1", "pss" or "ecdsa".
SIGNATURE_SCHEMES = {
    0x0401: (hashes.SHA256, "pkcs1"),
    0x0501: (hashes.SHA384, "pkcs1"),
    0x0601: (hashes.SHA512, "pkcs1"),
    0x0804: (hashes.SHA256, "pss"),
    0x0805: (hashes.SHA384, "pss"),
    0x0806: (hashes.SHA512, "pss"),
    0x0403: (hashes.SHA256, "ecdsa"),
    0x0503: (hashes.SHA384, "ecdsa"),
    0x0603: (hashes.SHA512, "ecdsa"),
}
DEFAULT_SIGNATURE_SCHEMES = (0x0403, 0x0503, 0x0804, 0x0805, 0x0806, 0x0401, 0x0501, 0x0601)


@dataclass(frozen=True)
class Suite:
    name: str
    code: int
    key_exchange: str  # "RSA", "ECDHE_RSA", "ECDHE_ECDSA"
    aead: str  # "AES-GCM" or "CHACHA20-POLY1305"
    key_len: int
    iv_len: int
    prf_hash: type


SUITES = {
    s.code: s
    for s in (
        Suite("TLS_RSA_WITH_AES_128_GCM_SHA256", 0x009C, "RSA", "AES-GCM", 16, 4, hashes.SHA256),
        Suite("TLS_RSA_WITH_AES_256_GCM_SHA384", 0x009D, "RSA", "AES-GCM", 32, 4, hashes.SHA384),
        Suite("TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256", 0xC02B, "ECDHE_ECDSA", "AES-GCM", 16, 4, hashes.SHA256),
        Suite("TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384", 0xC02C, "ECDHE_ECDSA", "AES-GCM", 32, 4, hashes.SHA384),
        Suite("TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256", 0xC02F, "ECDHE_RSA", "AES-GCM", 16, 4, hashes.SHA256),
        Suite("TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384", 0xC030, "ECDHE_RSA", "AES-GCM", 32, 4, hashes.SHA384),
        Suite("TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256", 0xCCA8, "ECDHE_RSA", "CHACHA20-POLY1305", 32, 12, hashes.SHA256),
        Suite("TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256", 0xCCA9, "ECDHE_ECDSA", "CHACHA20-POLY1305", 32, 12, hashes.SHA256),
    )
}
SUITE_BY_NAME = {s.name: s for s in SUITES.values()}


class TLSError(Exception):
    """A failed session: `alert` is the RFC 5246 AlertDescription number.

    `raised_by_server` tells who raised it; for a server alert, `grpc_code`
    and `grpc_metadata` hold the status the stream ended with, when it did.
    """

    def __init__(self, alert: int, reason: str, raised_by_server: bool = False):
        super().__init__(f"{alert_name(alert)}: {reason}")
        self.alert = alert
        self.reason = reason
        self.raised_by_server = raised_by_server
        self.grpc_code = None
        self.grpc_details = None
        self.grpc_metadata: dict = {}

    def __str__(self) -> str:
        text = f"{alert_name(self.alert)}: {self.reason}"
        if self.grpc_code is not None:
            text += f" [gRPC {self.grpc_code.name}: {self.grpc_details}]"
        return text


def alert_name(description: int) -> str:
    try:
        name = tls_pb2.AlertDescription.Name(description)
    except ValueError:
        return f"alert_{description}"
    return name.removeprefix("ALERT_DESCRIPTION_").lower()


# --- Encoding helpers (the .proto's notation) -------------------------------

def u8(n: int) -> bytes:
    return struct.pack(">B", n)


def u16(n: int) -> bytes:
    return struct.pack(">H", n)


def u24(n: int) -> bytes:
    return struct.pack(">I", n)[1:]


def v8(b: bytes) -> bytes:
    assert len(b) < 1 << 8
    return u8(len(b)) + b


def v16(b: bytes) -> bytes:
    assert len(b) < 1 << 16
    return u16(len(b)) + b


def v24(b: bytes) -> bytes:
    assert len(b) < 1 << 24
    return u24(len(b)) + b


def handshake_message(msg_type: int, body: bytes) -> bytes:
    """u8(msg_type) || u24(len(body)) || body: what the transcript hashes."""
    return u8(msg_type) + v24(body)


def encode_extensions(exts: tls_pb2.Extensions) -> bytes:
    return v16(b"".join(u16(e.type) + v16(e.data) for e in exts.items))


def encode_client_hello(m: tls_pb2.ClientHello) -> bytes:
    body = (
        u16(m.client_version)
        + m.random
        + v8(m.session_id)
        + v16(b"".join(u16(s) for s in m.cipher_suites))
        + v8(m.compression_methods)
    )
    if m.HasField("extensions"):
        body += encode_extensions(m.extensions)
    return handshake_message(HT_CLIENT_HELLO, body)


def encode_server_hello(m: tls_pb2.ServerHello) -> bytes:
    body = (
        u16(m.server_version)
        + m.random
        + v8(m.session_id)
        + u16(m.cipher_suite)
        + u8(m.compression_method)
    )
    if m.HasField("extensions"):
        body += encode_extensions(m.extensions)
    return handshake_message(HT_SERVER_HELLO, body)


def encode_certificate(m: tls_pb2.Certificate) -> bytes:
    return handshake_message(HT_CERTIFICATE, v24(b"".join(v24(c) for c in m.certificate_list)))


def ecdh_params(m: tls_pb2.ServerKeyExchange) -> bytes:
    """ServerECDHParams: u8(3 = named_curve) || u16(named_curve) || v8(public_key)."""
    return u8(3) + u16(m.named_curve) + v8(m.public_key)


def encode_server_key_exchange(m: tls_pb2.ServerKeyExchange) -> bytes:
    body = ecdh_params(m) + u16(m.signature_algorithm) + v16(m.signature)
    return handshake_message(HT_SERVER_KEY_EXCHANGE, body)


def encode_client_key_exchange(m: tls_pb2.ClientKeyExchange) -> bytes:
    if m.WhichOneof("exchange_keys") == "encrypted_pre_master_secret":
        body = v16(m.encrypted_pre_master_secret)
    else:
        body = v8(m.ecdh_public)
    return handshake_message(HT_CLIENT_KEY_EXCHANGE, body)


# --- The TLS 1.2 PRF (RFC 5246 section 5), written here ----------------------

def _hmac(hash_cls, secret: bytes, data: bytes) -> bytes:
    h = hmac.HMAC(secret, hash_cls())
    h.update(data)
    return h.finalize()


def p_hash(hash_cls, secret: bytes, seed: bytes, length: int) -> bytes:
    """P_hash(secret, seed) = HMAC(secret, A(1) + seed) || HMAC(secret, A(2) + seed) || ...
    with A(0) = seed, A(i) = HMAC(secret, A(i-1))."""
    out = b""
    a = seed
    while len(out) < length:
        a = _hmac(hash_cls, secret, a)
        out += _hmac(hash_cls, secret, a + seed)
    return out[:length]


def prf(hash_cls, secret: bytes, label: bytes, seed: bytes, length: int) -> bytes:
    """PRF(secret, label, seed) = P_<hash>(secret, label + seed)."""
    return p_hash(hash_cls, secret, label + seed, length)


def transcript_hash(hash_cls, messages: list[bytes]) -> bytes:
    h = hashes.Hash(hash_cls())
    for m in messages:
        h.update(m)
    return h.finalize()


# --- Record protection (RFC 5246 6.2.3.3, RFC 5288, RFC 7905) ----------------

class RecordProtection:
    """One direction's AEAD state: key, write IV and sequence number."""

    def __init__(self, suite: Suite, key: bytes, iv: bytes):
        self.suite = suite
        self.iv = iv
        self.seq = 0
        self.aead = AESGCM(key) if suite.aead == "AES-GCM" else ChaCha20Poly1305(key)

    def _aad(self, content_type: int, length: int) -> bytes:
        return struct.pack(">QBHH", self.seq, content_type, TLS12, length)

    def seal(self, content_type: int, plaintext: bytes) -> bytes:
        aad = self._aad(content_type, len(plaintext))
        if self.suite.aead == "AES-GCM":
            explicit = struct.pack(">Q", self.seq)
            fragment = explicit + self.aead.encrypt(self.iv + explicit, plaintext, aad)
        else:
            nonce = bytes(a ^ b for a, b in zip(self.iv, b"\0" * 4 + struct.pack(">Q", self.seq)))
            fragment = self.aead.encrypt(nonce, plaintext, aad)
        self.seq += 1
        return fragment

    def open(self, content_type: int, fragment: bytes) -> bytes:
        if self.suite.aead == "AES-GCM":
            if len(fragment) < 8 + 16:
                raise TLSError(ALERT_BAD_RECORD_MAC, "record shorter than explicit nonce + tag")
            explicit, ciphertext = fragment[:8], fragment[8:]
            nonce = self.iv + explicit
        else:
            if len(fragment) < 16:
                raise TLSError(ALERT_BAD_RECORD_MAC, "record shorter than its tag")
            ciphertext = fragment
            nonce = bytes(a ^ b for a, b in zip(self.iv, b"\0" * 4 + struct.pack(">Q", self.seq)))
        aad = self._aad(content_type, len(ciphertext) - 16)
        try:
            plaintext = self.aead.decrypt(nonce, ciphertext, aad)
        except InvalidTag:
            raise TLSError(ALERT_BAD_RECORD_MAC, f"record {self.seq} does not authenticate") from None
        self.seq += 1
        return plaintext


# --- Certificates ------------------------------------------------------------

def _check_validity(cert: x509.Certificate, now: datetime.datetime, what: str) -> None:
    if not cert.not_valid_before_utc <= now <= cert.not_valid_after_utc:
        raise TLSError(
            ALERT_CERTIFICATE_EXPIRED,
            f"{what} valid {cert.not_valid_before_utc} to {cert.not_valid_after_utc}, not at {now}",
        )


def _name_matches(cert: x509.Certificate, server_name: str) -> bool:
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return False
    try:
        ip = ipaddress.ip_address(server_name)
    except ValueError:
        ip = None
    if ip is not None:
        return ip in san.get_values_for_type(x509.IPAddress)
    want = server_name.lower().rstrip(".")
    for name in san.get_values_for_type(x509.DNSName):
        name = name.lower().rstrip(".")
        if name == want:
            return True
        if name.startswith("*.") and "." in want and want.split(".", 1)[1] == name[2:]:
            return True
    return False


def verify_chain(chain_der: list[bytes], ca: x509.Certificate, server_name: str,
                 now: datetime.datetime | None = None) -> x509.Certificate:
    """Checks the server's chain against the lab CA and returns the leaf.

    By hand: each certificate's signature by its issuer up to the CA, the
    validity dates of each, and the leaf's subjectAltName against
    `server_name`; then the same chain through cryptography's RFC 5280
    verifier (PolicyBuilder) as a second opinion."""
    if not chain_der:
        raise TLSError(ALERT_BAD_CERTIFICATE, "empty certificate chain")
    now = now or datetime.datetime.now(datetime.timezone.utc)
    try:
        chain = [x509.load_der_x509_certificate(d) for d in chain_der]
    except ValueError as e:
        raise TLSError(ALERT_BAD_CERTIFICATE, f"certificate does not parse: {e}") from None
    leaf = chain[0]
    current, depth = leaf, 0
    while True:
        _check_validity(current, now, "certificate" if depth else "server certificate")
        if current.issuer == ca.subject:
            issuer = ca
        else:
            candidates = [c for c in chain[1:] if c.subject == current.issuer and c is not current]
            if not candidates or depth >= 4:
                raise TLSError(ALERT_UNKNOWN_CA, f"no path from {current.subject.rfc4514_string()} to the CA")
            issuer = candidates[0]
        try:
            current.verify_directly_issued_by(issuer)
        except (ValueError, TypeError, InvalidSignature) as e:
            alert = ALERT_UNKNOWN_CA if issuer is ca else ALERT_BAD_CERTIFICATE
            raise TLSError(alert, f"{current.subject.rfc4514_string()} not signed by "
                                  f"{issuer.subject.rfc4514_string()}: {e!r}") from None
        if issuer is ca:
            _check_validity(ca, now, "CA certificate")
            break
        current, depth = issuer, depth + 1
    if not _name_matches(leaf, server_name):
        raise TLSError(ALERT_BAD_CERTIFICATE, f"subjectAltName does not name {server_name!r}")

    try:
        subject = x509.IPAddress(ipaddress.ip_address(server_name))
    except ValueError:
        subject = x509.DNSName(server_name)
    verifier = PolicyBuilder().store(Store([ca])).time(now).build_server_verifier(subject)
    try:
        verifier.verify(leaf, chain[1:])
    except VerificationError as e:
        raise TLSError(ALERT_BAD_CERTIFICATE, f"RFC 5280 verification: {e}") from None
    return leaf


def verify_server_key_exchange(ske: tls_pb2.ServerKeyExchange, key, client_random: bytes,
                               server_random: bytes, offered: tuple[int, ...]) -> None:
    """The signature covers client_random || server_random || ServerECDHParams."""
    scheme = ske.signature_algorithm
    if scheme not in offered or scheme not in SIGNATURE_SCHEMES:
        raise TLSError(ALERT_ILLEGAL_PARAMETER, f"signature scheme 0x{scheme:04x} was not offered")
    hash_cls, kind = SIGNATURE_SCHEMES[scheme]
    signed = client_random + server_random + ecdh_params(ske)
    try:
        if kind == "ecdsa":
            if not isinstance(key, ec.EllipticCurvePublicKey):
                raise TLSError(ALERT_ILLEGAL_PARAMETER, "ECDSA scheme for a non-EC key")
            key.verify(ske.signature, signed, ec.ECDSA(hash_cls()))
        else:
            if not isinstance(key, rsa.RSAPublicKey):
                raise TLSError(ALERT_ILLEGAL_PARAMETER, "RSA scheme for a non-RSA key")
            if kind == "pss":
                pad = padding.PSS(mgf=padding.MGF1(hash_cls()), salt_length=hash_cls.digest_size)
            else:
                pad = padding.PKCS1v15()
            key.verify(ske.signature, signed, pad, hash_cls())
    except InvalidSignature:
        raise TLSError(ALERT_DECRYPT_ERROR, "ServerKeyExchange signature does not verify") from None


# --- ECDHE -------------------------------------------------------------------

def ecdhe(group: int, server_public: bytes) -> tuple[bytes, bytes]:
    """Returns (client public key as sent, shared secret = pre-master)."""
    try:
        if group == GROUP_X25519:
            priv = x25519.X25519PrivateKey.generate()
            peer = x25519.X25519PublicKey.from_public_bytes(server_public)
            shared = priv.exchange(peer)
            if shared == b"\0" * 32:
                raise TLSError(ALERT_ILLEGAL_PARAMETER, "X25519 shared secret is zero")
            pub = priv.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
            return pub, shared
        curve = {GROUP_SECP256R1: ec.SECP256R1(), GROUP_SECP384R1: ec.SECP384R1()}[group]
        peer = ec.EllipticCurvePublicKey.from_encoded_point(curve, server_public)
        priv = ec.generate_private_key(curve)
        shared = priv.exchange(ec.ECDH(), peer)
        pub = priv.public_key().public_bytes(serialization.Encoding.X962,
                                             serialization.PublicFormat.UncompressedPoint)
        return pub, shared
    except (ValueError, KeyError) as e:
        raise TLSError(ALERT_ILLEGAL_PARAMETER, f"bad server ECDHE key on group {group}: {e!r}") from None


# --- The session -------------------------------------------------------------

@dataclass
class SessionResult:
    suite: Suite
    extended_master_secret: bool
    group: int | None
    signature_scheme: int | None
    session_id: str | None
    chain_length: int
    transcript: list[bytes] = field(default_factory=list)
    client_random: bytes = b""
    master_secret: bytes = b""

    def key_log_line(self) -> str:
        return f"CLIENT_RANDOM {self.client_random.hex()} {self.master_secret.hex()}"


class _Stream:
    """A Connect stream driven one message at a time."""

    def __init__(self, stub, metadata, timeout):
        self._requests: queue.Queue = queue.Queue()
        self.call = stub.Connect(self._iter(), metadata=metadata, timeout=timeout)

    def _iter(self):
        while True:
            item = self._requests.get()
            if item is None:
                return
            yield item

    def send(self, **kwargs) -> None:
        self._requests.put(service_pb2.ConnectRequest(**kwargs))

    def half_close(self) -> None:
        self._requests.put(None)

    def recv(self) -> service_pb2.ConnectResponse | None:
        """The next message; None when the stream ended with OK."""
        try:
            return next(self.call)
        except StopIteration:
            return None

    def cancel(self) -> None:
        self.half_close()
        self.call.cancel()


class TLS12Client:
    """One TLS 1.2 session over a Connect stream.

    `connect()` runs the handshake, `exchange(data)` sends one application
    record and returns the reply's plaintext, `close()` sends close_notify.
    """

    def __init__(self, channel: grpc.Channel, ca: x509.Certificate, server_name: str, suite: Suite,
                 groups: tuple[int, ...] = DEFAULT_GROUPS,
                 signature_schemes: tuple[int, ...] = DEFAULT_SIGNATURE_SCHEMES,
                 extended_master_secret: bool = True, session_id: str | None = None,
                 timeout: float = 10.0, corrupt_finished: bool = False):
        self.stub = service_pb2_grpc.HandshakeServiceStub(channel)
        self.ca = ca
        self.server_name = server_name
        self.suite = suite
        self.groups = tuple(groups)
        self.signature_schemes = tuple(signature_schemes)
        self.offer_ems = extended_master_secret
        self.proposed_session_id = session_id
        self.timeout = timeout
        self.corrupt_finished = corrupt_finished
        self.stream: _Stream | None = None
        self.write: RecordProtection | None = None
        self.read: RecordProtection | None = None
        self.result: SessionResult | None = None

    # -- receiving --

    def _recv(self, expected: str) -> service_pb2.ConnectResponse:
        try:
            msg = self.stream.recv()
        except grpc.RpcError as e:
            err = TLSError(_alert_from_metadata(e), f"stream failed waiting for {expected}: {e.details()}",
                           raised_by_server=True)
            _attach_status(err, e)
            raise err from None
        if msg is None:
            raise TLSError(ALERT_UNEXPECTED_MESSAGE, f"stream ended waiting for {expected}")
        kind = msg.WhichOneof("message")
        if kind == "alert":
            self._server_alert(msg.alert.description, "in the clear")
        if kind == "encrypted_record" and msg.encrypted_record.content_type == CT_ALERT and self.read:
            plain = self.read.open(CT_ALERT, msg.encrypted_record.fragment)
            if len(plain) != 2:
                raise TLSError(ALERT_DECODE_ERROR, "alert record is not 2 bytes")
            self._server_alert(plain[1], "encrypted")
        if kind != expected:
            raise TLSError(ALERT_UNEXPECTED_MESSAGE, f"got {kind}, expected {expected}")
        return msg

    def _server_alert(self, description: int, how: str):
        err = TLSError(description, f"server sent alert {alert_name(description)} ({how})", raised_by_server=True)
        # The stream then ends with a status naming the alert.
        try:
            while self.stream.recv() is not None:
                pass
        except grpc.RpcError as e:
            _attach_status(err, e)
        raise err

    def _fail(self, err: TLSError, keys_on: bool) -> None:
        """Sends our fatal alert (encrypted once our keys are on), ends the stream."""
        try:
            if keys_on and self.write:
                rec = tls_pb2.EncryptedRecord(content_type=CT_ALERT,
                                              fragment=self.write.seal(CT_ALERT, bytes([2, err.alert])))
                self.stream.send(encrypted_record=rec)
            else:
                self.stream.send(alert=tls_pb2.Alert(level=2, description=err.alert))
        finally:
            self.stream.half_close()
            try:
                while self.stream.recv() is not None:
                    pass
            except grpc.RpcError as e:
                _attach_status(err, e)

    # -- the handshake --

    def connect(self) -> SessionResult:
        metadata = [("session-id", self.proposed_session_id)] if self.proposed_session_id else None
        self.stream = _Stream(self.stub, metadata, self.timeout)
        try:
            return self._handshake()
        except TLSError as err:
            if not err.raised_by_server:
                self._fail(err, keys_on=self.write is not None)
            raise
        except BaseException:
            self.stream.cancel()
            raise

    def _handshake(self) -> SessionResult:
        suite = self.suite
        transcript: list[bytes] = []

        # Step 1: ClientHello.
        client_random = os.urandom(32)
        exts = []
        try:
            ipaddress.ip_address(self.server_name)
        except ValueError:  # RFC 6066: host names only, not IP literals
            name = self.server_name.encode("ascii")
            exts.append((EXT_SERVER_NAME, v16(u8(0) + v16(name))))
        if suite.key_exchange != "RSA":
            exts.append((EXT_SUPPORTED_GROUPS, v16(b"".join(u16(g) for g in self.groups))))
            exts.append((EXT_EC_POINT_FORMATS, v8(b"\x00")))
        exts.append((EXT_SIGNATURE_ALGORITHMS, v16(b"".join(u16(s) for s in self.signature_schemes))))
        if self.offer_ems:
            exts.append((EXT_EXTENDED_MASTER_SECRET, b""))
        exts.append((EXT_RENEGOTIATION_INFO, v8(b"")))
        hello = tls_pb2.ClientHello(
            client_version=TLS12,
            random=client_random,
            session_id=b"",
            cipher_suites=[suite.code],
            compression_methods=b"\x00",
            extensions=tls_pb2.Extensions(items=[tls_pb2.Extension(type=t, data=d) for t, d in exts]),
        )
        self.stream.send(client_hello=hello)
        transcript.append(encode_client_hello(hello))

        # Step 2: ServerHello.
        sh = self._recv("server_hello").server_hello
        if sh.server_version != TLS12:
            raise TLSError(ALERT_PROTOCOL_VERSION, f"server_version 0x{sh.server_version:04x}")
        if len(sh.random) != 32:
            raise TLSError(ALERT_DECODE_ERROR, "server random is not 32 bytes")
        if sh.cipher_suite != suite.code:
            raise TLSError(ALERT_ILLEGAL_PARAMETER, f"server chose unoffered suite 0x{sh.cipher_suite:04x}")
        if sh.compression_method != 0:
            raise TLSError(ALERT_ILLEGAL_PARAMETER, "server chose compression")
        offered_types = {t for t, _ in exts}
        server_exts = {}
        for e in sh.extensions.items:
            if e.type not in offered_types or e.type in server_exts:
                raise TLSError(ALERT_UNSUPPORTED_EXTENSION, f"server sent extension {e.type}")
            server_exts[e.type] = e.data
        if server_exts.get(EXT_RENEGOTIATION_INFO, b"\x00") != b"\x00":
            raise TLSError(ALERT_HANDSHAKE_FAILURE, "renegotiation_info is not empty on an initial handshake")
        if server_exts.get(EXT_EXTENDED_MASTER_SECRET, b"") != b"":
            raise TLSError(ALERT_DECODE_ERROR, "extended_master_secret extension is not empty")
        ems = EXT_EXTENDED_MASTER_SECRET in server_exts
        server_random = sh.random
        transcript.append(encode_server_hello(sh))
        session_id = dict(self.stream.call.initial_metadata()).get("session-id")

        # Step 3: Certificate.
        cert_msg = self._recv("certificate").certificate
        transcript.append(encode_certificate(cert_msg))
        leaf = verify_chain(list(cert_msg.certificate_list), self.ca, self.server_name)  # step 5's checks
        key = leaf.public_key()
        want_rsa = suite.key_exchange in ("RSA", "ECDHE_RSA")
        if want_rsa != isinstance(key, rsa.RSAPublicKey) or (
                not want_rsa and not isinstance(key, ec.EllipticCurvePublicKey)):
            raise TLSError(ALERT_UNSUPPORTED_CERTIFICATE, f"{type(key).__name__} key for {suite.name}")

        # ServerKeyExchange (ECDHE) and step 4: ServerHelloDone.
        group = scheme = None
        ske = None
        if suite.key_exchange != "RSA":
            ske = self._recv("server_key_exchange").server_key_exchange
            if ske.named_curve not in self.groups:
                raise TLSError(ALERT_ILLEGAL_PARAMETER, f"server chose unoffered group {ske.named_curve}")
            verify_server_key_exchange(ske, key, client_random, server_random, self.signature_schemes)
            group, scheme = ske.named_curve, ske.signature_algorithm
            transcript.append(encode_server_key_exchange(ske))
        self._recv("server_hello_done")
        transcript.append(handshake_message(HT_SERVER_HELLO_DONE, b""))

        # Steps 6 and 7: pre-master and ClientKeyExchange.
        if suite.key_exchange == "RSA":
            pre_master = u16(TLS12) + os.urandom(46)
            cke = tls_pb2.ClientKeyExchange(encrypted_pre_master_secret=key.encrypt(pre_master, padding.PKCS1v15()))
        else:
            client_public, pre_master = ecdhe(group, ske.public_key)
            cke = tls_pb2.ClientKeyExchange(ecdh_public=client_public)
        self.stream.send(client_key_exchange=cke)
        transcript.append(encode_client_key_exchange(cke))

        # Step 8: master secret and keys.
        h = suite.prf_hash
        if ems:
            master = prf(h, pre_master, b"extended master secret", transcript_hash(h, transcript), 48)
        else:
            master = prf(h, pre_master, b"master secret", client_random + server_random, 48)
        kl, il = suite.key_len, suite.iv_len
        block = prf(h, master, b"key expansion", server_random + client_random, 2 * kl + 2 * il)
        client_key, server_key = block[:kl], block[kl:2 * kl]
        client_iv, server_iv = block[2 * kl:2 * kl + il], block[2 * kl + il:]

        # Steps 9 and 10: ChangeCipherSpec, then our Finished sealed.
        self.stream.send(change_cipher_spec=tls_pb2.ChangeCipherSpec())
        self.write = RecordProtection(suite, client_key, client_iv)
        verify_data = prf(h, master, b"client finished", transcript_hash(h, transcript), 12)
        if self.corrupt_finished:
            verify_data = bytes([verify_data[0] ^ 1]) + verify_data[1:]
        finished = handshake_message(HT_FINISHED, verify_data)
        self.stream.send(encrypted_record=tls_pb2.EncryptedRecord(
            content_type=CT_HANDSHAKE, fragment=self.write.seal(CT_HANDSHAKE, finished)))
        transcript.append(finished)

        # Steps 11 and 12: the server's ChangeCipherSpec and Finished.
        self._recv("change_cipher_spec")
        self.read = RecordProtection(suite, server_key, server_iv)
        rec = self._recv("encrypted_record").encrypted_record
        if rec.content_type != CT_HANDSHAKE:
            raise TLSError(ALERT_UNEXPECTED_MESSAGE, f"content type {rec.content_type} instead of Finished")
        server_finished = self.read.open(CT_HANDSHAKE, rec.fragment)
        expected = handshake_message(
            HT_FINISHED, prf(h, master, b"server finished", transcript_hash(h, transcript), 12))
        if server_finished[:4] != expected[:4]:
            raise TLSError(ALERT_DECODE_ERROR, f"not a 12-byte Finished: {server_finished[:4].hex()}")
        if server_finished != expected:
            raise TLSError(ALERT_DECRYPT_ERROR, "server Finished verify_data is wrong")
        transcript.append(server_finished)

        self.result = SessionResult(
            suite=suite, extended_master_secret=ems, group=group, signature_scheme=scheme,
            session_id=session_id, chain_length=len(cert_msg.certificate_list), transcript=transcript,
            client_random=client_random, master_secret=master)
        return self.result

    # -- step 13: application data --

    def exchange(self, data: bytes) -> bytes:
        """Sends one application_data record; returns the plaintext of the reply."""
        try:
            self.stream.send(encrypted_record=tls_pb2.EncryptedRecord(
                content_type=CT_APPLICATION_DATA, fragment=self.write.seal(CT_APPLICATION_DATA, data)))
            rec = self._recv("encrypted_record").encrypted_record
            if rec.content_type != CT_APPLICATION_DATA:
                raise TLSError(ALERT_UNEXPECTED_MESSAGE, f"content type {rec.content_type}, not application data")
            return self.read.open(CT_APPLICATION_DATA, rec.fragment)
        except TLSError as err:
            if not err.raised_by_server:
                self._fail(err, keys_on=True)
            raise

    def close(self) -> bool:
        """Sends close_notify; returns True when the server answered with its
        own close_notify and the stream then ended with OK."""
        self.stream.send(encrypted_record=tls_pb2.EncryptedRecord(
            content_type=CT_ALERT, fragment=self.write.seal(CT_ALERT, bytes([1, ALERT_CLOSE_NOTIFY]))))
        answered = ended_ok = False
        try:
            msg = self.stream.recv()
            if msg is not None and msg.WhichOneof("message") == "encrypted_record" \
                    and msg.encrypted_record.content_type == CT_ALERT:
                answered = self.read.open(CT_ALERT, msg.encrypted_record.fragment)[1:] == bytes([ALERT_CLOSE_NOTIFY])
            self.stream.half_close()
            ended_ok = self.stream.recv() is None  # nothing more, then status OK
        except (grpc.RpcError, TLSError):
            pass
        finally:
            self.stream.half_close()
        return answered and ended_ok


def _alert_from_metadata(e: grpc.RpcError) -> int:
    md = dict(e.trailing_metadata() or ())
    name = md.get("tls-alert")
    if name:
        try:
            return tls_pb2.AlertDescription.Value("ALERT_DESCRIPTION_" + name.upper())
        except ValueError:
            pass
    return ALERT_HANDSHAKE_FAILURE


def _attach_status(err: TLSError, e: grpc.RpcError) -> None:
    err.grpc_code = e.code()
    err.grpc_details = e.details()
    err.grpc_metadata = dict(e.trailing_metadata() or ())


def load_ca(path: str) -> x509.Certificate:
    with open(path, "rb") as f:
        return x509.load_pem_x509_certificate(f.read())


def run_session(address: str, ca_file: str, suite_name: str, server_name: str = "localhost",
                message: bytes = b"hello", **kwargs) -> tuple[SessionResult, bytes, bool]:
    """One whole session: handshake, one message and its reply, close_notify."""
    with grpc.insecure_channel(address) as channel:
        client = TLS12Client(channel, load_ca(ca_file), server_name, SUITE_BY_NAME[suite_name], **kwargs)
        result = client.connect()
        reply = client.exchange(message)
        closed = client.close()
        return result, reply, closed


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("address", help="server-svc's host:port")
    ap.add_argument("ca_file", help="the lab CA (PEM)")
    ap.add_argument("suite", nargs="?", default="TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256",
                    choices=sorted(SUITE_BY_NAME))
    ap.add_argument("--server-name", default="localhost")
    ap.add_argument("--message", default="hello")
    args = ap.parse_args(argv)
    try:
        result, reply, closed = run_session(args.address, args.ca_file, args.suite, args.server_name,
                                            args.message.encode())
    except TLSError as e:
        who = "server" if e.raised_by_server else "client"
        status = f" (gRPC {e.grpc_code.name}, {e.grpc_metadata})" if e.grpc_code else ""
        print(f"failed, alert {alert_name(e.alert)} from the {who}: {e.reason}{status}", file=sys.stderr)
        return 1
    print(f"suite {result.suite.name}, extended_master_secret {result.extended_master_secret}"
          + (f", group {tls_pb2.NamedGroup.Name(result.group)}" if result.group else "")
          + (f", signature {tls_pb2.SignatureScheme.Name(result.signature_scheme)}" if result.signature_scheme else ""))
    print(f"session-id {result.session_id}; server Finished verified; reply {reply.decode(errors='replace')!r}; "
          f"close_notify answered: {closed}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
