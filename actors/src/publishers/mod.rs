//! Output publishers: one FFmpeg per demanded output, encoding the transmission's selected frame
//! and pushing it to the engine. Each is a child of its transmission actor.

pub mod actor;
pub mod target;

pub use actor::{PublisherActor, PublisherArgs, PublisherMsg, PublisherStatus};
pub use target::OutputTarget;
