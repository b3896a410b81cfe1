//! What the token API needs beside the check itself: throttling failed attempts, and
//! recording use without making the caller wait.

pub mod recorder;
pub mod throttle;
