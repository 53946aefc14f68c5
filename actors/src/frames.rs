//! Frames at an output's size: contain geometry, contain resize (SIMD, via fast_image_resize) with
//! black letterbox/pillarbox padding, and cached solid placeholders.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use fast_image_resize::images::{CroppedImageMut, Image, ImageRef};
use fast_image_resize::{FilterType, PixelType, ResizeAlg, ResizeOptions, Resizer};
use serde::Serialize;

use crate::model::transmission::Placeholder;
use crate::transmissions::arbitration::Frame;

/// Where the picture sits inside a contained frame, in pixels.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct ContentRect {
    pub x: u32,
    pub y: u32,
    pub width: u32,
    pub height: u32,
}

/// Scales `source` to fit `target` keeping its aspect, centred (an odd padding pixel goes
/// right/bottom). Rounds half to even, as the original (Python `round`) did.
pub fn contain_rect(source: (u32, u32), target: (u32, u32)) -> ContentRect {
    let (sw, sh) = (source.0.max(1) as f64, source.1.max(1) as f64);
    let (tw, th) = (target.0.max(1), target.1.max(1));
    let source_aspect = sw / sh;
    let (width, height) = if source_aspect >= tw as f64 / th as f64 {
        (tw, (tw as f64 / source_aspect).round_ties_even() as u32)
    } else {
        ((th as f64 * source_aspect).round_ties_even() as u32, th)
    };
    let (width, height) = (width.clamp(1, tw), height.clamp(1, th));
    ContentRect {
        x: (tw - width) / 2,
        y: (th - height) / 2,
        width,
        height,
    }
}

/// Frame work that costs milliseconds (JPEG decode, resize, JPEG encode) at once, at most.
const HEAVY_PERMITS: usize = 4;
static HEAVY: tokio::sync::Semaphore = tokio::sync::Semaphore::const_new(HEAVY_PERMITS);

/// Runs CPU-heavy frame work on the blocking pool, at most [`HEAVY_PERMITS`] at once, so the
/// async workers keep answering HTTP while writers push 1080p JPEG. Waiting for a permit is
/// back-pressure on whoever produces the work. `None` if the work panicked.
pub async fn off_runtime<T: Send + 'static>(
    work: impl FnOnce() -> T + Send + 'static,
) -> Option<T> {
    let _permit = HEAVY.acquire().await.ok()?;
    tokio::task::spawn_blocking(work).await.ok()
}

/// One resize per (frame, size) across a transmission's outputs: the first publisher that needs
/// a frame at a size computes it, the others of that size wait for it and share it. Each entry
/// keeps its source frame, so the source's address cannot be reused by a newer frame while it is
/// the key.
#[derive(Clone, Default)]
pub struct SharedResizes {
    latest: Arc<Mutex<HashMap<(u32, u32), ResizeEntry>>>,
}

/// A source frame and its resized version at one size (filled by the first who needs it).
type ResizeEntry = (Frame, Arc<tokio::sync::OnceCell<Frame>>);

impl SharedResizes {
    /// `source` at `size`, computed with `resizer` unless another output already did (or is
    /// doing) it. `None` if the resize panicked.
    pub async fn resized(
        &self,
        resizer: ContainResizer,
        source: Frame,
        size: (u32, u32),
    ) -> Option<(ContainResizer, Frame)> {
        let cell = {
            let mut latest = self.latest.lock().expect("shared resizes lock");
            match latest.get(&size) {
                Some((cached, cell)) if cached.data.as_ptr() == source.data.as_ptr() => {
                    cell.clone()
                }
                _ => {
                    let cell = Arc::new(tokio::sync::OnceCell::new());
                    latest.insert(size, (source.clone(), cell.clone()));
                    cell
                }
            }
        };
        let mut resizer = Some(resizer);
        let resized = cell
            .get_or_try_init(|| async {
                let (back, resized) = resizer
                    .take()
                    .expect("initialised once")
                    .resize_off_runtime(source, size)
                    .await
                    .ok_or(())?;
                resizer = Some(back);
                Ok::<Frame, ()>(resized)
            })
            .await
            .ok()?
            .clone();
        Some((resizer.unwrap_or_default(), resized))
    }
}

/// Reuses its SIMD buffers between frames; one per output.
#[derive(Default)]
pub struct ContainResizer {
    resizer: Resizer,
}

impl ContainResizer {
    /// [`Self::resize`] off the async workers (see [`off_runtime`]); the resizer comes back with
    /// the frame. `None` if the resize panicked.
    pub async fn resize_off_runtime(
        self,
        frame: Frame,
        target: (u32, u32),
    ) -> Option<(Self, Frame)> {
        let mut resizer = self;
        off_runtime(move || {
            let resized = resizer.resize(&frame, target);
            (resizer, resized)
        })
        .await
    }

    /// `frame` at `target` size: unchanged (shared, not copied) when it already matches, else
    /// scaled into a black canvas. The one copy on the frame path.
    pub fn resize(&mut self, frame: &Frame, target: (u32, u32)) -> Frame {
        let (tw, th) = (target.0.max(1), target.1.max(1));
        if (frame.width, frame.height) == (tw, th) {
            return frame.clone();
        }
        let rect = contain_rect((frame.width, frame.height), (tw, th));
        let mut canvas = Image::new(tw, th, PixelType::U8x3);
        let source = ImageRef::new(frame.width, frame.height, &frame.data, PixelType::U8x3)
            .expect("a Frame's length matches its size");
        let mut area = CroppedImageMut::new(&mut canvas, rect.x, rect.y, rect.width, rect.height)
            .expect("the content rect lies inside the canvas");
        // A fixed bilinear kernel is fastest and fine down to half size; beyond that a kernel that
        // widens with the scale (area-like) keeps thin lines from aliasing.
        let shrink =
            (frame.width as f64 / rect.width as f64).max(frame.height as f64 / rect.height as f64);
        let algorithm = if shrink > 2.0 {
            ResizeAlg::Convolution(FilterType::Bilinear)
        } else {
            ResizeAlg::Interpolation(FilterType::Bilinear)
        };
        let options = ResizeOptions::new().resize_alg(algorithm);
        self.resizer
            .resize(&source, &mut area, &options)
            .expect("U8x3 to U8x3 resizes");
        Frame {
            data: Bytes::from(canvas.into_vec()),
            width: tw,
            height: th,
        }
    }
}

/// (width, height, colour) of a placeholder.
type PlaceholderKey = (u32, u32, Placeholder);

/// Solid placeholder frames, one shared buffer per (size, colour), made once.
#[derive(Default, Clone)]
pub struct Placeholders {
    cache: Arc<Mutex<HashMap<PlaceholderKey, Frame>>>,
}

impl Placeholders {
    pub fn get(&self, size: (u32, u32), colour: Placeholder) -> Frame {
        let (width, height) = (size.0.max(1), size.1.max(1));
        let mut cache = self.cache.lock().expect("placeholder cache lock");
        cache
            .entry((width, height, colour))
            .or_insert_with(|| {
                let value = match colour {
                    Placeholder::Gray => 127,
                    Placeholder::Black => 0,
                };
                Frame {
                    data: Bytes::from(vec![value; width as usize * height as usize * 3]),
                    width,
                    height,
                }
            })
            .clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn solid(width: u32, height: u32, value: u8) -> Frame {
        Frame::bgr24(
            Bytes::from(vec![value; (width * height * 3) as usize]),
            width,
            height,
        )
        .unwrap()
    }

    fn pixel(frame: &Frame, x: u32, y: u32) -> [u8; 3] {
        let at = ((y * frame.width + x) * 3) as usize;
        [frame.data[at], frame.data[at + 1], frame.data[at + 2]]
    }

    /// Two outputs of one size get the very same resized buffer, computed once; another size or
    /// a newer frame is resized anew.
    #[tokio::test]
    async fn each_frame_is_resized_once_per_size_across_outputs() {
        let shared = SharedResizes::default();
        let source = solid(640, 360, 200);
        let (first, second) = tokio::join!(
            shared.resized(ContainResizer::default(), source.clone(), (320, 180)),
            shared.resized(ContainResizer::default(), source.clone(), (320, 180)),
        );
        let (first, second) = (first.unwrap().1, second.unwrap().1);
        assert_eq!((first.width, first.height), (320, 180));
        assert_eq!(
            first.data.as_ptr(),
            second.data.as_ptr(),
            "computed once, shared"
        );
        let other_size = shared
            .resized(ContainResizer::default(), source.clone(), (160, 90))
            .await
            .unwrap()
            .1;
        assert_eq!((other_size.width, other_size.height), (160, 90));
        let newer = shared
            .resized(ContainResizer::default(), solid(640, 360, 10), (320, 180))
            .await
            .unwrap()
            .1;
        assert_ne!(newer.data.as_ptr(), first.data.as_ptr());
        assert_eq!(
            pixel(&newer, 160, 90),
            [10, 10, 10],
            "the newer frame's pixels"
        );
    }

    #[test]
    fn geometry() {
        let r = |s, t| contain_rect(s, t);
        assert_eq!(
            r((1920, 1080), (1280, 720)),
            ContentRect {
                x: 0,
                y: 0,
                width: 1280,
                height: 720
            }
        );
        // Portrait into landscape: pillarbox.
        assert_eq!(
            r((720, 1280), (1280, 720)),
            ContentRect {
                x: 437,
                y: 0,
                width: 405,
                height: 720
            }
        );
        // 4:3 into 16:9.
        assert_eq!(
            r((640, 480), (1280, 720)),
            ContentRect {
                x: 160,
                y: 0,
                width: 960,
                height: 720
            }
        );
        // Odd padding: the extra pixel goes right.
        assert_eq!(
            r((1, 1), (4, 3)),
            ContentRect {
                x: 0,
                y: 0,
                width: 3,
                height: 3
            }
        );
        assert_eq!(
            r((1, 1), (1, 1)),
            ContentRect {
                x: 0,
                y: 0,
                width: 1,
                height: 1
            }
        );
        // Half rounds to even: 100 * 9 / 16 = 56.25 -> 56; 5 / 2 = 2.5 -> 2.
        assert_eq!(r((16, 9), (100, 100)).height, 56);
        assert_eq!(r((2, 1), (5, 5)).height, 2);
        // Degenerate sizes are clamped, never zero.
        assert_eq!(
            r((0, 0), (0, 0)),
            ContentRect {
                x: 0,
                y: 0,
                width: 1,
                height: 1
            }
        );
    }

    #[test]
    fn an_exact_match_is_shared_not_copied() {
        let frame = solid(64, 36, 200);
        let out = ContainResizer::default().resize(&frame, (64, 36));
        assert_eq!(out.data.as_ptr(), frame.data.as_ptr());
    }

    #[test]
    fn portrait_into_landscape_is_pillarboxed_in_black() {
        let frame = solid(90, 160, 200);
        let out = ContainResizer::default().resize(&frame, (160, 90));
        assert_eq!(
            (out.width, out.height, out.data.len()),
            (160, 90, 160 * 90 * 3)
        );
        let rect = contain_rect((90, 160), (160, 90));
        assert_eq!(pixel(&out, 0, 45), [0, 0, 0], "left bar");
        assert_eq!(pixel(&out, 159, 45), [0, 0, 0], "right bar");
        assert_eq!(
            pixel(&out, rect.x + rect.width / 2, 45),
            [200, 200, 200],
            "picture"
        );
    }

    #[test]
    fn odd_sizes_and_one_pixel_targets() {
        let frame = solid(33, 17, 90);
        let out = ContainResizer::default().resize(&frame, (7, 5));
        assert_eq!(out.data.len(), 7 * 5 * 3);
        let tiny = ContainResizer::default().resize(&frame, (1, 1));
        assert_eq!(tiny.data.len(), 3);
        assert_eq!(pixel(&tiny, 0, 0), [90, 90, 90]);
    }

    #[test]
    fn placeholders_are_cached_per_size_and_colour() {
        let placeholders = Placeholders::default();
        let gray = placeholders.get((8, 4), Placeholder::Gray);
        assert_eq!(pixel(&gray, 3, 2), [127, 127, 127]);
        assert_eq!(
            placeholders.get((8, 4), Placeholder::Gray).data.as_ptr(),
            gray.data.as_ptr()
        );
        assert_eq!(
            pixel(&placeholders.get((8, 4), Placeholder::Black), 0, 0),
            [0, 0, 0]
        );
    }
}
