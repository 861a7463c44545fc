//! What the code under test logged: a `tracing` subscriber that keeps the warnings (and
//! errors) of the thread it is the default subscriber of, each as its fields
//! (` message=… watch=…`).
//!
//! ```ignore
//! let warnings = tagwarden_testbed::Warnings::default();
//! let _logging = tracing::subscriber::set_default(warnings.clone());
//! // … run the code under test on this thread …
//! assert_eq!(warnings.lines(), Vec::<String>::new());
//! ```

use std::fmt::Debug;
use std::sync::{Arc, Mutex};

/// The warnings logged while this is the default subscriber; see the
/// [module documentation](self).
#[derive(Clone, Default)]
pub struct Warnings(Arc<Mutex<Vec<String>>>);

impl Warnings {
    /// Every warning so far, in order.
    pub fn lines(&self) -> Vec<String> {
        self.0.lock().expect("warnings poisoned").clone()
    }
}

/// An event's fields, ` name=value` each.
struct Fields(String);

impl tracing::field::Visit for Fields {
    fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn Debug) {
        use std::fmt::Write as _;
        let _ = write!(self.0, " {}={value:?}", field.name());
    }
}

impl tracing::Subscriber for Warnings {
    fn register_callsite(
        &self,
        _: &'static tracing::Metadata<'static>,
    ) -> tracing::subscriber::Interest {
        tracing::subscriber::Interest::sometimes()
    }
    fn enabled(&self, metadata: &tracing::Metadata<'_>) -> bool {
        *metadata.level() <= tracing::Level::WARN
    }
    fn new_span(&self, _: &tracing::span::Attributes<'_>) -> tracing::span::Id {
        tracing::span::Id::from_u64(1)
    }
    fn record(&self, _: &tracing::span::Id, _: &tracing::span::Record<'_>) {}
    fn record_follows_from(&self, _: &tracing::span::Id, _: &tracing::span::Id) {}
    fn event(&self, event: &tracing::Event<'_>) {
        let mut fields = Fields(String::new());
        event.record(&mut fields);
        self.0.lock().expect("warnings poisoned").push(fields.0);
    }
    fn enter(&self, _: &tracing::span::Id) {}
    fn exit(&self, _: &tracing::span::Id) {}
}
