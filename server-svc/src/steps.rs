//! What both fronts do with every engine event first, inside the session's
//! span: hand it to the session's [`SessionWatch`] (the step lines at
//! debug, the metrics), and with `--key-log` append the session's NSS key
//! log line at step 8 (Gen secret key), so every session that derived keys
//! has its line, whether or not its handshake completed.

use handshake::{Connection, Event, Step};
use service_runtime::keylog::KeyLog;
use service_runtime::watch::SessionWatch;

pub(crate) fn on_event(
    watch: &mut SessionWatch,
    event: &Event,
    conn: &Connection,
    key_log: Option<&KeyLog>,
) {
    watch.event(event);
    if let Event::Step(step) = event
        && step.step == Step::GenSecretKey
        && let (Some(log), Some(line)) = (key_log, conn.key_log_line())
    {
        log.append(&line);
        tracing::debug!("session keys appended to the key log");
    }
}
