//! Still images (`still.jpg`): the latest frame a transmission shows, or its placeholder, as JPEG.
//! Encoded at most once per frame (a small per-transmission cache), never by FFmpeg.

use std::sync::{Arc, Mutex};

use bytes::Bytes;

use crate::transmissions::arbitration::Frame;

/// JPEG quality of stills (the original's 82).
const QUALITY: u8 = 82;

/// The last still made, keyed by the frame's buffer (a new frame is a new buffer).
#[derive(Default, Clone)]
pub struct StillCache {
    last: Arc<Mutex<Option<(usize, Bytes)>>>,
}

impl StillCache {
    /// `frame` as JPEG, from the cache when it is the same frame as last time.
    pub fn jpeg(&self, frame: &Frame) -> Result<Bytes, String> {
        let key = frame.data.as_ptr() as usize;
        if let Some((cached, jpeg)) = self.last.lock().expect("still cache lock").as_ref() {
            if *cached == key {
                return Ok(jpeg.clone());
            }
        }
        let jpeg = encode(frame)?;
        *self.last.lock().expect("still cache lock") = Some((key, jpeg.clone()));
        Ok(jpeg)
    }
}

/// BGR24 -> JPEG.
pub fn encode(frame: &Frame) -> Result<Bytes, String> {
    let (width, height) = (
        u16::try_from(frame.width).map_err(|_| "frame too wide for JPEG")?,
        u16::try_from(frame.height).map_err(|_| "frame too tall for JPEG")?,
    );
    let mut out = Vec::with_capacity(frame.data.len() / 8);
    jpeg_encoder::Encoder::new(&mut out, QUALITY)
        .encode(&frame.data, width, height, jpeg_encoder::ColorType::Bgr)
        .map_err(|err| format!("JPEG encoding failed: {err}"))?;
    Ok(Bytes::from(out))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_frame_is_encoded_once_and_decodes_to_its_size() {
        let frame = Frame::bgr24(Bytes::from(vec![200u8; 64 * 48 * 3]), 64, 48).unwrap();
        let cache = StillCache::default();
        let first = cache.jpeg(&frame).unwrap();
        let again = cache.jpeg(&frame).unwrap();
        assert_eq!(first.as_ptr(), again.as_ptr(), "served from the cache");
        let decoded = Frame::from_jpeg(&first).unwrap();
        assert_eq!((decoded.width, decoded.height), (64, 48));
        assert!(decoded.data.iter().all(|v| v.abs_diff(200) < 4));
    }
}
