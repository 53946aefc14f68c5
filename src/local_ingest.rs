//! Frame ingest for writers on the same host: a Unix socket (`runtime/streaming/writers.sock`,
//! mode 0600 in the 0700 data dir, so only this service's user may connect) carrying raw BGR24
//! frames after a one-line JSON header, in one of two transports (docs/api.md, "Local frame
//! socket"; docs/performance.md, "Frame ingest"):
//! - `stream`: frames back to back on the socket; each costs the kernel's copy into a buffer this
//!   side reuses.
//! - `memfd`: each frame is a sealed memfd passed as `SCM_RIGHTS` with a one-byte message; it is
//!   mapped read-only and shared as it is, so the service copies nothing.
//! - `memfd_ring`: a few memfds passed once and mapped once; each frame is one byte naming the
//!   slot the writer filled, and the service answers `{"type": "free", "slot": n}` when nothing
//!   reads that slot any more. No page is mapped, faulted, allocated or freed per frame.
//!
//! ```text
//! -> {"transmission_id": "front", "writer_id": "vision", "width": 1280, "height": 720,
//!     "priority": 0, "transport": "stream"}\n
//! <- {"type": "ready", "frame_bytes": 2764800}\n        (or {"type": "error", "detail": ...} and close)
//! -> frame, frame, frame ...   (closing the socket closes the writer)
//! ```

use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use bytes::{BufMut, Bytes, BytesMut};
use serde::Deserialize;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::net::{UnixListener, UnixStream};
use tokio::sync::Semaphore;
use tokio::task::JoinSet;
use toposync_actors::transmissions::arbitration::{Frame, Lifecycle};

use crate::http::ingest::{FRAME_LIMIT, MAX_HEIGHT, MAX_WIDTH, Target};

pub const SOCKET_NAME: &str = "writers.sock";
/// Writers connected at once; more are refused.
const MAX_WRITERS: usize = 64;
const MAX_HEADER: u64 = 4096;
const HEADER_DEADLINE: Duration = Duration::from_secs(5);
/// A writer silent for this long mid-stream is gone (arbitration dropped it long before).
const FRAME_DEADLINE: Duration = Duration::from_secs(60);

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Header {
    transmission_id: String,
    writer_id: String,
    width: u32,
    height: u32,
    #[serde(default)]
    priority: i64,
    /// Only `bgr24` (the default) for now.
    #[serde(default)]
    format: Option<String>,
    #[serde(default)]
    transport: Transport,
    /// `memfd_ring` only: how many slots the writer passes (2..=8, default 4). One holds the
    /// picture the transmission shows; the others are frames on their way to outputs.
    #[serde(default)]
    slots: Option<usize>,
}

const RING_SLOTS: std::ops::RangeInclusive<usize> = 2..=8;
const DEFAULT_RING_SLOTS: usize = 4;

#[derive(Deserialize, Default, Clone, Copy, PartialEq)]
#[serde(rename_all = "snake_case")]
enum Transport {
    #[default]
    Stream,
    Memfd,
    MemfdRing,
}

/// Binds the socket in `runtime_dir`, replacing a stale one.
pub fn bind(runtime_dir: &Path) -> std::io::Result<(UnixListener, PathBuf)> {
    toposync_actors::private_file::bind_socket(runtime_dir, SOCKET_NAME)
}

/// Accepts writers until dropped; every connection ends with it.
pub async fn serve(listener: UnixListener) {
    let permits = Arc::new(Semaphore::new(MAX_WRITERS));
    let mut writers = JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => match permits.clone().try_acquire_owned() {
                    Ok(permit) => {
                        writers.spawn(async move {
                            session(stream).await;
                            drop(permit);
                        });
                    }
                    Err(_) => {
                        let mut stream = stream;
                        let _ = reply(&mut stream, &error("too many local writers")).await;
                    }
                },
                Err(err) => {
                    tracing::warn!(%err, "local writer accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            },
            Some(_) = writers.join_next(), if !writers.is_empty() => {}
        }
    }
}

fn error(detail: &str) -> String {
    serde_json::json!({"type": "error", "detail": detail}).to_string()
}

/// Writes `line` and its newline in one write (a ring answers one per frame).
async fn reply<W: AsyncWrite + Unpin>(writer: &mut W, line: &str) -> std::io::Result<()> {
    let mut message = String::with_capacity(line.len() + 1);
    message.push_str(line);
    message.push('\n');
    writer.write_all(message.as_bytes()).await
}

/// The next descriptor-carrying message (see `sealed::receive_fd`), or `Err` after `deadline`.
async fn next_descriptor(
    stream: &UnixStream,
    deadline: Duration,
) -> Result<std::io::Result<Option<std::os::fd::OwnedFd>>, tokio::time::error::Elapsed> {
    tokio::time::timeout(
        deadline,
        stream.async_io(tokio::io::Interest::READABLE, || {
            sealed::receive_fd(stream.as_raw_fd())
        }),
    )
    .await
}

/// The header, checked: the transmission it feeds and the frame size.
async fn opened(reader: &mut BufReader<UnixStream>) -> Result<(Header, Target, usize), String> {
    let mut line = String::new();
    let mut limited = (&mut *reader).take(MAX_HEADER);
    match tokio::time::timeout(HEADER_DEADLINE, limited.read_line(&mut line)).await {
        Err(_) => return Err("no header within 5 s".into()),
        Ok(Err(err)) => return Err(format!("the header could not be read: {err}")),
        Ok(Ok(_)) if !line.ends_with('\n') => {
            return Err(format!(
                "the header is one JSON line of at most {MAX_HEADER} bytes"
            ));
        }
        Ok(Ok(_)) => {}
    }
    let header: Header =
        serde_json::from_str(&line).map_err(|err| format!("invalid header: {err}"))?;
    if header.format.as_deref().is_some_and(|f| f != "bgr24") {
        return Err("format must be 'bgr24'".into());
    }
    if !(1..=MAX_WIDTH).contains(&header.width) || !(1..=MAX_HEIGHT).contains(&header.height) {
        return Err("width must be 1..7680 and height 1..4320".into());
    }
    let id = header.writer_id.trim();
    if id.is_empty() || id.len() > 128 || id.chars().any(char::is_control) {
        return Err("writer_id must be 1 to 128 printable characters".into());
    }
    match (header.transport, header.slots) {
        (Transport::MemfdRing, Some(slots)) if !RING_SLOTS.contains(&slots) => {
            return Err("slots must be 2..8".into());
        }
        (Transport::MemfdRing, _) | (_, None) => {}
        (_, Some(_)) => return Err("slots applies only to transport 'memfd_ring'".into()),
    }
    let frame_bytes = header.width as usize * header.height as usize * 3;
    if frame_bytes > FRAME_LIMIT {
        return Err(format!("A frame is at most {FRAME_LIMIT} bytes"));
    }
    let target = Target::find(&header.transmission_id)
        .await
        .map_err(|err| err.message())?;
    Ok((header, target, frame_bytes))
}

async fn session(stream: UnixStream) {
    let mut reader = BufReader::new(stream);
    let (header, mut target, frame_bytes) = match opened(&mut reader).await {
        Ok(opened) => opened,
        Err(detail) => {
            let _ = reply(reader.get_mut(), &error(&detail)).await;
            return;
        }
    };
    let slots = header.slots.unwrap_or(DEFAULT_RING_SLOTS);
    let mut ready = serde_json::json!({"type": "ready", "frame_bytes": frame_bytes});
    if header.transport == Transport::MemfdRing {
        ready["slots"] = slots.into();
    }
    let ready = ready.to_string();
    if reply(reader.get_mut(), &ready).await.is_err() {
        return;
    }
    let writer_id = header.writer_id.trim().to_string();
    match header.transport {
        Transport::Stream => {
            stream_frames(reader, &header, &writer_id, &mut target, frame_bytes).await;
        }
        // Descriptors ride on recvmsg; bytes read ahead through the buffer would lose theirs.
        Transport::Memfd | Transport::MemfdRing if !reader.buffer().is_empty() => {
            let _ = reply(reader.get_mut(), &error("send frames after the ready line")).await;
        }
        Transport::Memfd => {
            let stream = reader.into_inner();
            memfd_frames(stream, &header, &writer_id, &mut target, frame_bytes).await;
        }
        Transport::MemfdRing => {
            let stream = reader.into_inner();
            let ring = Ring { slots, frame_bytes };
            ring_frames(stream, &header, &writer_id, &mut target, ring).await;
        }
    }
    let _ = target.close(&writer_id).await;
}

/// Frames back to back on the socket until the writer hangs up, goes silent, or the
/// transmission refuses one.
async fn stream_frames(
    mut reader: BufReader<UnixStream>,
    header: &Header,
    writer_id: &str,
    target: &mut Target,
    frame_bytes: usize,
) {
    let mut lifecycle = Lifecycle::Open;
    // The two frames handed on last: once the transmission lets go of the older one, its
    // buffer takes the next frame, so a steady writer allocates nothing.
    let (mut last, mut before_last): (Option<Bytes>, Option<Bytes>) = (None, None);
    loop {
        let mut buffer = before_last
            .take()
            .and_then(|spent| spent.try_into_mut().ok())
            .map(|mut reused| {
                reused.clear();
                reused
            })
            .unwrap_or_else(|| BytesMut::with_capacity(frame_bytes));
        match tokio::time::timeout(FRAME_DEADLINE, fill(&mut reader, &mut buffer, frame_bytes))
            .await
        {
            Ok(Ok(true)) => {}
            // End of stream between frames, a cut-off frame, a read error or silence: the
            // writer is gone.
            Ok(Ok(false)) | Ok(Err(_)) | Err(_) => return,
        }
        let data = buffer.freeze();
        let delivered = deliver(target, header, writer_id, &mut lifecycle, data.clone()).await;
        if let Err(detail) = delivered {
            let _ = reply(reader.get_mut(), &error(&detail)).await;
            return;
        }
        before_last = last.replace(data);
    }
}

/// Frames as sealed memfds until the writer hangs up or sends something that is not one.
async fn memfd_frames(
    mut stream: UnixStream,
    header: &Header,
    writer_id: &str,
    target: &mut Target,
    frame_bytes: usize,
) {
    let mut lifecycle = Lifecycle::Open;
    loop {
        let fd = match next_descriptor(&stream, FRAME_DEADLINE).await {
            Ok(Ok(Some(fd))) => fd,
            Ok(Ok(None)) | Err(_) => return,
            Ok(Err(err)) => {
                let _ = reply(&mut stream, &error(&err.to_string())).await;
                return;
            }
        };
        let data = match sealed::map(fd, frame_bytes, sealed::Seals::Frozen) {
            Ok(mapped) => Bytes::from_owner(mapped),
            Err(detail) => {
                let _ = reply(&mut stream, &error(&detail)).await;
                return;
            }
        };
        if let Err(detail) = deliver(target, header, writer_id, &mut lifecycle, data).await {
            let _ = reply(&mut stream, &error(&detail)).await;
            return;
        }
    }
}

struct Ring {
    slots: usize,
    frame_bytes: usize,
}

/// One slot of a writer's ring, lent to the transmission as a frame's bytes: when the last
/// `Bytes` sharing it goes, the slot is handed back to the writer.
struct LentSlot {
    pages: Arc<sealed::Mapped>,
    index: usize,
    freed: tokio::sync::mpsc::UnboundedSender<usize>,
}

impl AsRef<[u8]> for LentSlot {
    fn as_ref(&self) -> &[u8] {
        self.pages.as_ref().as_ref()
    }
}

impl Drop for LentSlot {
    fn drop(&mut self) {
        // The session may have ended; then nobody waits for the slot.
        let _ = self.freed.send(self.index);
    }
}

/// The ring's memfds, then one byte per frame naming a filled slot, until the writer hangs up,
/// goes silent, names a slot it does not own, or the transmission refuses a frame.
async fn ring_frames(
    mut stream: UnixStream,
    header: &Header,
    writer_id: &str,
    target: &mut Target,
    ring: Ring,
) {
    let mut slots = Vec::with_capacity(ring.slots);
    while slots.len() < ring.slots {
        let mapped = match next_descriptor(&stream, HEADER_DEADLINE).await {
            Ok(Ok(Some(fd))) => sealed::map(fd, ring.frame_bytes, sealed::Seals::Ring),
            Ok(Ok(None)) => return,
            Ok(Err(err)) => Err(err.to_string()),
            Err(_) => Err(format!("send the ring's {} memfds within 5 s", ring.slots)),
        };
        match mapped {
            Ok(mapped) => slots.push(Arc::new(mapped)),
            Err(detail) => {
                let _ = reply(&mut stream, &error(&detail)).await;
                return;
            }
        }
    }
    // At most one message per slot is ever queued: a slot is lent once until it comes back.
    let (freed, mut returned) = tokio::sync::mpsc::unbounded_channel();
    let mut lent = vec![false; ring.slots];
    let (reader, mut writer) = stream.into_split();
    let mut reader = BufReader::new(reader);
    let mut lifecycle = Lifecycle::Open;
    loop {
        let index = tokio::select! {
            Some(index) = returned.recv() => {
                lent[index] = false;
                let line = format!(r#"{{"type":"free","slot":{index}}}"#);
                // A writer that stops reading its answers soon has no slot to fill.
                match tokio::time::timeout(FRAME_DEADLINE, reply(&mut writer, &line)).await {
                    Ok(Ok(())) => continue,
                    Ok(Err(_)) | Err(_) => return,
                }
            }
            // Cancel-safe: a byte is read whole or not at all.
            read = tokio::time::timeout(FRAME_DEADLINE, reader.read_u8()) => match read {
                Ok(Ok(index)) => usize::from(index),
                Ok(Err(_)) | Err(_) => return,
            },
        };
        let refusal = match lent.get(index) {
            None => Some(format!("slot {index} is not in the ring of {}", ring.slots)),
            Some(true) => Some(format!(
                "slot {index} is still in use; wait for its free line"
            )),
            Some(false) => None,
        };
        if let Some(detail) = refusal {
            let _ = reply(&mut writer, &error(&detail)).await;
            return;
        }
        lent[index] = true;
        let data = Bytes::from_owner(LentSlot {
            pages: slots[index].clone(),
            index,
            freed: freed.clone(),
        });
        if let Err(detail) = deliver(target, header, writer_id, &mut lifecycle, data).await {
            let _ = reply(&mut writer, &error(&detail)).await;
            return;
        }
    }
}

/// Hands one frame to the transmission: the writer's first opens it, the rest update it.
/// `data` is exactly one frame of the header's size (every transport checks that first).
async fn deliver(
    target: &mut Target,
    header: &Header,
    writer_id: &str,
    lifecycle: &mut Lifecycle,
    data: Bytes,
) -> Result<(), String> {
    let frame = Frame::bgr24(data, header.width, header.height)
        .expect("every transport hands on exactly one frame of the declared size");
    target
        .update(writer_id, *lifecycle, header.priority, Some(frame))
        .await?;
    *lifecycle = Lifecycle::Update;
    Ok(())
}

/// Reads exactly `len` bytes into `buffer` (empty, with room for them); `false` at the end of
/// the stream, whether before the frame or inside it.
async fn fill(
    reader: &mut BufReader<UnixStream>,
    buffer: &mut BytesMut,
    len: usize,
) -> std::io::Result<bool> {
    buffer.reserve(len);
    while buffer.len() < len {
        let room = len - buffer.len();
        if reader.read_buf(&mut (&mut *buffer).limit(room)).await? == 0 {
            return Ok(false);
        }
    }
    Ok(true)
}

/// Receiving and mapping sealed memfds: the only unsafe code of the frame path.
mod sealed {
    use std::io;
    use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};

    /// What a writer promises about a memfd's pages, by its seals.
    #[derive(Clone, Copy)]
    pub enum Seals {
        /// A `memfd` frame: no write can change it under a reader and no truncation can turn a
        /// read into SIGBUS.
        Frozen,
        /// A `memfd_ring` slot: the writer rewrites it, but only while it is not lent (the
        /// protocol, not the kernel, keeps that), and it can never shrink (SIGBUS).
        Ring,
    }

    impl Seals {
        fn required(self) -> libc::c_int {
            match self {
                Seals::Frozen => libc::F_SEAL_WRITE | libc::F_SEAL_SHRINK,
                Seals::Ring => libc::F_SEAL_SHRINK,
            }
        }

        fn refusal(self) -> &'static str {
            match self {
                Seals::Frozen => "a memfd frame must be sealed with F_SEAL_WRITE and F_SEAL_SHRINK",
                Seals::Ring => "a ring slot must be sealed with F_SEAL_SHRINK",
            }
        }
    }

    /// One message: a byte and its descriptor. `Ok(None)` at the end of the stream. Extra
    /// descriptors are closed; a message without one, or with its control data cut off, is an
    /// error.
    pub fn receive_fd(socket: RawFd) -> io::Result<Option<OwnedFd>> {
        let mut byte = [0u8; 1];
        let mut iov = libc::iovec {
            iov_base: byte.as_mut_ptr().cast(),
            iov_len: 1,
        };
        // Room for a few descriptors (aligned for cmsghdr), so a writer sending several loses
        // nothing silently: they are received and closed.
        let mut control = [0u64; 8];
        // SAFETY: zeroed msghdr is a valid empty header; the pointers set below outlive the call.
        let mut message: libc::msghdr = unsafe { std::mem::zeroed() };
        message.msg_iov = &mut iov;
        message.msg_iovlen = 1;
        message.msg_control = control.as_mut_ptr().cast();
        message.msg_controllen = std::mem::size_of_val(&control) as _;
        // SAFETY: `message` points at live buffers of the stated sizes.
        let received = unsafe { libc::recvmsg(socket, &mut message, libc::MSG_CMSG_CLOEXEC) };
        if received < 0 {
            return Err(io::Error::last_os_error());
        }
        let mut descriptors = Vec::new();
        // SAFETY: the kernel filled `control` with `msg_controllen` bytes of cmsghdrs; the CMSG_*
        // macros walk exactly those, and each SCM_RIGHTS payload is an array of ints it opened
        // for us, so owning them is right.
        unsafe {
            let mut cmsg = libc::CMSG_FIRSTHDR(&message);
            while !cmsg.is_null() {
                if (*cmsg).cmsg_level == libc::SOL_SOCKET && (*cmsg).cmsg_type == libc::SCM_RIGHTS {
                    let payload = (*cmsg).cmsg_len as usize - libc::CMSG_LEN(0) as usize;
                    let first = libc::CMSG_DATA(cmsg).cast::<libc::c_int>();
                    for i in 0..payload / std::mem::size_of::<libc::c_int>() {
                        let fd = std::ptr::read_unaligned(first.add(i));
                        descriptors.push(OwnedFd::from_raw_fd(fd));
                    }
                }
                cmsg = libc::CMSG_NXTHDR(&message, cmsg);
            }
        }
        if received == 0 && descriptors.is_empty() {
            return Ok(None);
        }
        if message.msg_flags & libc::MSG_CTRUNC != 0 {
            return Err(io::Error::other(
                "a frame message's descriptors were cut off",
            ));
        }
        match (descriptors.len(), descriptors.pop()) {
            (1, Some(fd)) => Ok(Some(fd)),
            (0, _) => Err(io::Error::other(
                "a memfd frame is one byte carrying one descriptor (SCM_RIGHTS)",
            )),
            _ => Err(io::Error::other(
                "a frame message carries one descriptor, not several",
            )),
        }
    }

    /// A frame's pages, mapped read-only; unmapped when the last `Bytes` sharing it goes.
    pub struct Mapped {
        address: std::ptr::NonNull<u8>,
        len: usize,
    }

    // SAFETY: the mapping is read-only and its file is sealed against shrinking, so its bytes
    // stay readable from any thread until unmapped in Drop. A `memfd` frame is also sealed
    // against writes; a ring slot is rewritten by its writer only while the service does not
    // lend it. A writer breaking that promise can garble only its own frames' pixels (sizes come
    // from the header, never from the pages), and it runs as this service's own user (the
    // socket is 0600), which could already do anything to this process.
    unsafe impl Send for Mapped {}
    unsafe impl Sync for Mapped {}

    impl AsRef<[u8]> for Mapped {
        fn as_ref(&self) -> &[u8] {
            // SAFETY: `len` readable bytes are mapped at `address` until Drop (see above).
            unsafe { std::slice::from_raw_parts(self.address.as_ptr(), self.len) }
        }
    }

    impl Drop for Mapped {
        fn drop(&mut self) {
            // SAFETY: unmaps exactly the mapping made in `map`, once.
            unsafe {
                libc::munmap(self.address.as_ptr().cast(), self.len);
            }
        }
    }

    /// Maps `fd` if it is a memfd of exactly `len` bytes with the `seals` asked for. Its pages
    /// are not populated: a frame nobody reads is never touched.
    pub fn map(fd: OwnedFd, len: usize, seals: Seals) -> Result<Mapped, String> {
        // SAFETY: fcntl and fstat on a descriptor we own, into a local stat buffer.
        let (present, size) = unsafe {
            let present = libc::fcntl(fd.as_raw_fd(), libc::F_GET_SEALS);
            let mut stat: libc::stat = std::mem::zeroed();
            let size = (libc::fstat(fd.as_raw_fd(), &mut stat) == 0).then_some(stat.st_size);
            (present, size)
        };
        if present < 0 {
            return Err(
                "a frame descriptor must be a memfd (memfd_create with MFD_ALLOW_SEALING)".into(),
            );
        }
        if present & seals.required() != seals.required() {
            return Err(seals.refusal().into());
        }
        if size != Some(len as libc::off_t) {
            return Err(format!(
                "a memfd frame is exactly {len} bytes, got {}",
                size.map_or("an unreadable size".into(), |s| s.to_string())
            ));
        }
        // SAFETY: a fresh read-only shared mapping of a file of at least `len` bytes that cannot
        // shrink; the descriptor may close after mmap (the mapping keeps the file).
        let address = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ,
                libc::MAP_SHARED,
                fd.as_raw_fd(),
                0,
            )
        };
        if address == libc::MAP_FAILED {
            return Err(format!(
                "the memfd frame could not be mapped: {}",
                io::Error::last_os_error()
            ));
        }
        let address = std::ptr::NonNull::new(address.cast::<u8>())
            .ok_or("the memfd frame was mapped at address zero")?;
        Ok(Mapped { address, len })
    }
}
