//! Still images (`still.jpg`): the latest frame a transmission shows, or its placeholder, as JPEG.
//! Encoded at most once per frame (a small per-transmission cache), never by FFmpeg.

use std::sync::{Arc, Mutex};

use bytes::Bytes;

use crate::transmissions::arbitration::Frame;

/// JPEG quality of stills (the original's 82).
const QUALITY: u8 = 82;

/// The last still made and the frame buffer it was made from. Holding the buffer is what makes
/// its address a key: while it is held, no later frame can be allocated at the same address.
#[derive(Default, Clone)]
pub struct StillCache {
    last: Arc<Mutex<Option<(Bytes, Bytes)>>>,
}

impl StillCache {
    /// `frame` as JPEG, from the cache when it is the same frame (the same shared buffer) as
    /// last time.
    pub fn jpeg(&self, frame: &Frame) -> Result<Bytes, String> {
        let same =
            |held: &Bytes| held.as_ptr() == frame.data.as_ptr() && held.len() == frame.data.len();
        if let Some((source, jpeg)) = self.last.lock().unwrap_or_else(|e| e.into_inner()).as_ref() {
            if same(source) {
                return Ok(jpeg.clone());
            }
        }
        let jpeg = encode(frame)?;
        *self.last.lock().unwrap_or_else(|e| e.into_inner()) =
            Some((frame.data.clone(), jpeg.clone()));
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

    /// Frames of one size freed and allocated in turn reuse addresses; the cache must still tell
    /// them apart (it once served 192 old pictures out of 200).
    #[test]
    fn every_new_frame_gets_its_own_still() {
        let cache = StillCache::default();
        for i in 0..200u32 {
            let shade = if i % 2 == 0 { 0u8 } else { 255 };
            let frame = Frame::bgr24(Bytes::from(vec![shade; 16 * 16 * 3]), 16, 16).unwrap();
            let jpeg = cache.jpeg(&frame).unwrap();
            drop(frame);
            let shown = Frame::from_jpeg(&jpeg).unwrap().data[0];
            assert!(
                shown.abs_diff(shade) < 8,
                "still {i} shows {shown}, not {shade}"
            );
        }
    }
}
