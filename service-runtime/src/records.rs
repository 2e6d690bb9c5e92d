//! TLS records over TCP, for server-svc's TLS front and client-svc's
//! `tls://` targets, as mini-redis's `Connection`: [`RecordStream`] holds
//! the socket, its buffers and the engine's codec (`Deframer` in,
//! `encode_records` out). Reads are bounded: at most one record of the
//! largest size at a time ([`READ_CHUNK`]), and at most [`MAX_BUFFERED`]
//! held.

use std::io;

use handshake::{
    Deframer, MAX_CIPHERTEXT, MAX_CLIENT_HELLO_LEN, RECORD_HEADER_LEN, encode_records,
};
use handshake::{Error, Message};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::{Instant, timeout_at};

/// The most bytes read from the socket at once: a whole record of the
/// largest size.
pub const READ_CHUNK: usize = RECORD_HEADER_LEN + MAX_CIPHERTEXT;

/// What the deframer may hold after a read: an incomplete record and a
/// handshake message being reassembled (the largest accepted of any type
/// is a ClientHello; the deframer refuses larger ones itself), plus one
/// read. Beyond that the connection is cut.
pub const MAX_BUFFERED: usize = READ_CHUNK + 4 + MAX_CLIENT_HELLO_LEN + READ_CHUNK;

/// The most bytes [`RecordStream::close`] reads and drops.
const LINGER_BYTES: usize = 64 * 1024;

/// What [`RecordStream::read`] got.
#[derive(Debug)]
pub enum Received {
    /// The next message, or the framing error to abort the engine with
    /// (final: every later read returns it again).
    Message(Result<Message, Error>),
    /// TCP EOF, with `pending` bytes of an unfinished record or handshake
    /// message left (0 for a clean end between records).
    Eof { pending: usize },
    /// Reading from the socket failed.
    ReadFailed(io::Error),
    /// Writing what was queued failed.
    WriteFailed(io::Error),
}

/// One TCP connection carrying TLS records.
#[derive(Debug)]
pub struct RecordStream {
    stream: TcpStream,
    deframer: Deframer,
    read_buf: Box<[u8]>,
    /// Records queued: `write_buf[written..]` is not yet written.
    write_buf: Vec<u8>,
    written: usize,
}

impl RecordStream {
    /// Records over `stream`, `queued` (records already encoded) first,
    /// with TCP_NODELAY: a handshake is a ping-pong of small flights, which
    /// must not wait for a delayed ACK.
    pub fn new(stream: TcpStream, queued: Vec<u8>) -> Self {
        if let Err(e) = stream.set_nodelay(true) {
            tracing::debug!("TCP_NODELAY: {e}");
        }
        Self {
            stream,
            deframer: Deframer::default(),
            read_buf: vec![0; READ_CHUNK].into_boxed_slice(),
            write_buf: queued,
            written: 0,
        }
    }

    /// Queues `msg` as records (a long handshake message split over
    /// several), for the next [`RecordStream::read`] or
    /// [`RecordStream::flush`] to write. `Err` only for a message that
    /// does not fit a record, which the engine never makes.
    pub fn queue(&mut self, msg: &Message) -> Result<(), Error> {
        encode_records(msg, &mut self.write_buf)
    }

    /// The next message, reading as needed and writing what is queued
    /// meanwhile, so that neither side can block the other with a full
    /// buffer. Cancel-safe: a timeout around it loses nothing.
    pub async fn read(&mut self) -> Received {
        loop {
            match self.deframer.pop() {
                Ok(Some(msg)) => return Received::Message(Ok(msg)),
                Ok(None) => {}
                Err(e) => return Received::Message(Err(e)),
            }
            let (mut reader, mut writer) = self.stream.split();
            let read = if self.written == self.write_buf.len() {
                reader.read(&mut self.read_buf).await
            } else {
                tokio::select! {
                    read = reader.read(&mut self.read_buf) => read,
                    wrote = writer.write(&self.write_buf[self.written..]) => match wrote {
                        Ok(0) => return Received::WriteFailed(io::ErrorKind::WriteZero.into()),
                        Ok(n) => {
                            self.wrote(n);
                            continue;
                        }
                        Err(e) => return Received::WriteFailed(e),
                    },
                }
            };
            match read {
                Ok(0) => {
                    return Received::Eof {
                        pending: self.deframer.buffered(),
                    };
                }
                Ok(n) => {
                    if let Err(e) = self.push(n) {
                        return Received::Message(Err(e));
                    }
                }
                Err(e) => return Received::ReadFailed(e),
            }
        }
    }

    /// Moves the `n` bytes just read into the deframer (which keeps records
    /// until they are whole), within [`MAX_BUFFERED`].
    fn push(&mut self, n: usize) -> Result<(), Error> {
        self.deframer.push(&self.read_buf[..n]);
        match self.deframer.buffered() {
            held if held > MAX_BUFFERED => Err(Error::internal(format!(
                "{held} bytes buffered, more than {MAX_BUFFERED}"
            ))),
            _ => Ok(()),
        }
    }

    fn wrote(&mut self, n: usize) {
        self.written += n;
        if self.written == self.write_buf.len() {
            self.write_buf.clear();
            self.written = 0;
        }
    }

    /// Writes everything queued. Cancel-safe: what is not written stays.
    pub async fn flush(&mut self) -> io::Result<()> {
        while self.written < self.write_buf.len() {
            match self.stream.write(&self.write_buf[self.written..]).await? {
                0 => return Err(io::ErrorKind::WriteZero.into()),
                n => self.wrote(n),
            }
        }
        Ok(())
    }

    /// Writes what is queued, ends our side (FIN), then reads and drops
    /// what the peer still sends until it closes too, all by `until` and
    /// for at most [`LINGER_BYTES`]: closing a socket with unread bytes
    /// makes the kernel answer with a reset, which could destroy our last
    /// records before the peer reads them.
    pub async fn close(&mut self, until: Instant) {
        match timeout_at(until, self.flush()).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => return tracing::debug!("last records not written: {e}"),
            Err(_) => return tracing::debug!("last records not written in time"),
        }
        if timeout_at(until, self.stream.shutdown()).await.is_err() {
            return;
        }
        let mut dropped = 0;
        while dropped < LINGER_BYTES {
            match timeout_at(until, self.stream.read(&mut self.read_buf)).await {
                Ok(Ok(n)) if n > 0 => dropped += n,
                _ => break,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use handshake::MAX_PLAINTEXT;
    use handshake::msgs::enums::AlertDescription;
    use handshake::msgs::message::RawHandshake;
    use handshake::{Alert, Message};
    use tokio::net::TcpListener;

    use super::*;

    async fn pair() -> (RecordStream, RecordStream) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let client = TcpStream::connect(listener.local_addr().unwrap());
        let (client, accepted) = tokio::join!(client, listener.accept());
        let server = RecordStream::new(accepted.unwrap().0, Vec::new());
        (RecordStream::new(client.unwrap(), Vec::new()), server)
    }

    /// A Certificate-type handshake message of 60,000 bytes: four records.
    fn big(n: u8) -> Message {
        let mut bytes = vec![11, 0, 0xea, 0x60];
        bytes.resize(4 + 60_000, n);
        Message::RawHandshake(RawHandshake::new(bytes).unwrap())
    }

    /// Reads `count` messages, then writes what is still queued (`read`
    /// writes only while it waits).
    async fn read_all(stream: &mut RecordStream, count: u8) -> Vec<Message> {
        let mut got = Vec::new();
        while got.len() < usize::from(count) {
            match stream.read().await {
                Received::Message(Ok(msg)) => got.push(msg),
                other => panic!("message {}: {other:?}", got.len()),
            }
        }
        stream.flush().await.unwrap();
        got
    }

    #[tokio::test]
    async fn both_sides_write_while_they_read() {
        // 12 MB each way, far more than the sockets buffer: sides that
        // wrote everything before reading would wait for ever on each other.
        const COUNT: u8 = 200;
        let (mut a, mut b) = pair().await;
        for n in 0..COUNT {
            a.queue(&big(n)).unwrap();
            b.queue(&big(n)).unwrap();
        }
        let both = async { tokio::join!(read_all(&mut a, COUNT), read_all(&mut b, COUNT)) };
        // A guard against a hang, not a measure: this takes well under a second.
        let (at_a, at_b) = tokio::time::timeout(std::time::Duration::from_secs(60), both)
            .await
            .expect("both sides read everything");
        let want: Vec<Message> = (0..COUNT).map(big).collect();
        assert!(at_a == want && at_b == want);
    }

    #[tokio::test]
    async fn eof_in_the_middle_of_a_record_says_how_much_was_pending() {
        let (mut a, mut b) = pair().await;
        a.stream.write_all(&[21, 3, 3, 0, 2, 2]).await.unwrap();
        a.stream.shutdown().await.unwrap();
        let Received::Eof { pending } = b.read().await else {
            panic!("EOF expected");
        };
        assert_eq!(pending, 6);
        let (mut a, mut b) = pair().await;
        a.queue(&alert()).unwrap();
        a.flush().await.unwrap();
        a.stream.shutdown().await.unwrap();
        assert!(matches!(b.read().await, Received::Message(Ok(m)) if m == alert()));
        assert!(matches!(b.read().await, Received::Eof { pending: 0 }));
    }

    fn alert() -> Message {
        Message::Alert(Alert::fatal(AlertDescription::INTERNAL_ERROR))
    }

    #[tokio::test]
    async fn records_round_trip_one_byte_at_a_time() {
        let (mut a, mut b) = pair().await;
        a.queue(&alert()).unwrap();
        a.queue(&alert()).unwrap();
        assert_eq!(&a.write_buf[..5], &[21, 3, 3, 0, 2]);
        for byte in std::mem::take(&mut a.write_buf) {
            a.stream.write_all(&[byte]).await.unwrap();
            a.stream.flush().await.unwrap();
        }
        let got = read_all(&mut b, 2).await;
        assert_eq!(got, vec![alert(), alert()]);
        assert_eq!(b.deframer.buffered(), 0);
    }

    #[tokio::test]
    async fn a_framing_error_is_final() {
        let (mut a, mut b) = pair().await;
        a.stream.write_all(b"GET / HTTP/1.1\r\n").await.unwrap();
        let Received::Message(Err(first)) = b.read().await else {
            panic!("HTTP is not TLS records");
        };
        a.stream.write_all(&[21, 3, 3, 0, 2, 2, 80]).await.unwrap();
        let Received::Message(Err(again)) = b.read().await else {
            panic!("the error must stay");
        };
        assert_eq!(first.alert(), again.alert());
    }

    #[tokio::test]
    async fn the_stream_holds_at_most_max_buffered() {
        let (_a, mut b) = pair().await;
        // A header announcing the largest plaintext record, then only part
        // of its body: held, waiting for the rest.
        let mut start = vec![22, 3, 3];
        start.extend_from_slice(&u16::try_from(MAX_PLAINTEXT).unwrap().to_be_bytes());
        start.resize(RECORD_HEADER_LEN + MAX_PLAINTEXT - 1, 0);
        b.deframer.push(&start);
        assert!(b.deframer.pop().unwrap().is_none());
        assert_eq!(b.deframer.buffered(), start.len());
        // More than reads of at most READ_CHUNK can leave: refused with
        // internal_error.
        b.deframer.push(&vec![0u8; MAX_BUFFERED - start.len()]);
        let e = b.push(1).expect_err("too much buffered must be refused");
        assert_eq!(e.alert(), AlertDescription::INTERNAL_ERROR);
        assert!(e.reason().contains("bytes buffered"), "{e:?}");
    }
}
