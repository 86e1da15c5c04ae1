//! Small readers and writers that the image writers compose: flash, install, `image customize
//! -o` (copy) and `image pull`. Each does one thing and is tested on its own at chunk and
//! alignment boundaries.

pub mod direct;
pub mod hash;
pub mod overlay;
pub mod pipeline;
