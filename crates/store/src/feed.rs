//! A table function that hands Arrow batches from a channel to DuckDB's worker threads:
//! `INSERT INTO t (…) SELECT * FROM wheelhouse_feed(token)` converts and stores them on every
//! thread of the database (an appender is one thread), while the producer keeps reading.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::Receiver;
use std::sync::{Arc, Mutex, OnceLock, PoisonError};

use arrow_array::RecordBatch;
use arrow_schema::SchemaRef;
use duckdb::Connection;
use duckdb::core::{DataChunkHandle, LogicalTypeHandle, LogicalTypeId};
use duckdb::vtab::{
    BindInfo, InitInfo, TableFunctionInfo, VTab, record_batch_to_duckdb_data_chunk,
    to_duckdb_logical_type_for_field,
};

/// The table function's name.
pub(crate) const FUNCTION: &str = "wheelhouse_feed";

/// Rows per data chunk (DuckDB's standard vector size).
const CHUNK: usize = 2048;

/// Batches waiting to be scanned: the current one (from `offset`) and the channel.
struct State {
    /// `None` once closed.
    rx: Option<Receiver<RecordBatch>>,
    current: Option<RecordBatch>,
    offset: usize,
}

/// One registered feed.
pub(crate) struct Feed {
    schema: SchemaRef,
    state: Mutex<State>,
}

impl Feed {
    /// The next slice of at most [`CHUNK`] rows; `None` once the channel is closed and drained.
    fn next(&self) -> Option<RecordBatch> {
        let mut st = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        loop {
            if let Some(b) = &st.current
                && st.offset < b.num_rows()
            {
                let len = CHUNK.min(b.num_rows() - st.offset);
                let slice = b.slice(st.offset, len);
                st.offset += len;
                return Some(slice);
            }
            let next = st.rx.as_ref()?.recv().ok()?;
            st.current = Some(next);
            st.offset = 0;
        }
    }
}

fn feeds() -> &'static Mutex<HashMap<u64, Arc<Feed>>> {
    static FEEDS: OnceLock<Mutex<HashMap<u64, Arc<Feed>>>> = OnceLock::new();
    FEEDS.get_or_init(Default::default)
}

/// A feed registered under a token until dropped (a scan that is already bound keeps its feed).
pub(crate) struct Registration(u64, Arc<Feed>);

impl Registration {
    /// Registers `first` and the batches that will arrive on `rx` (all with `first`'s schema).
    pub(crate) fn new(first: RecordBatch, rx: Receiver<RecordBatch>) -> Self {
        static NEXT: AtomicU64 = AtomicU64::new(1);
        let token = NEXT.fetch_add(1, Ordering::Relaxed);
        let feed = Feed {
            schema: first.schema(),
            state: Mutex::new(State {
                rx: Some(rx),
                current: Some(first),
                offset: 0,
            }),
        };
        let feed = Arc::new(feed);
        feeds()
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(token, feed.clone());
        Registration(token, feed)
    }

    /// Unregisters the feed and drops its receiver (the sender's next send fails), whoever
    /// still holds the feed: a producer blocked on a full channel is released even if a scan
    /// outlives the statement.
    pub(crate) fn close(self) {
        let mut st = self.1.state.lock().unwrap_or_else(PoisonError::into_inner);
        st.rx = None;
        st.current = None;
    }

    /// The token to pass to [`FUNCTION`].
    pub(crate) fn token(&self) -> u64 {
        self.0
    }
}

impl Drop for Registration {
    fn drop(&mut self) {
        feeds()
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(&self.0);
    }
}

/// The table function.
pub(crate) struct FeedVTab;

impl VTab for FeedVTab {
    type InitData = ();
    type BindData = Arc<Feed>;

    fn bind(bind: &BindInfo) -> Result<Self::BindData, Box<dyn std::error::Error>> {
        let token = bind.get_parameter(0).to_uint64();
        let feed = feeds()
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(&token)
            .cloned()
            .ok_or_else(|| format!("{FUNCTION}: no feed registered under {token}"))?;
        for f in feed.schema.fields() {
            bind.add_result_column(f.name(), to_duckdb_logical_type_for_field(f)?);
        }
        Ok(feed)
    }

    fn init(init: &InitInfo) -> Result<Self::InitData, Box<dyn std::error::Error>> {
        // As many threads as the database runs; each takes the next slice under the lock and
        // converts it on its own.
        init.set_max_threads(1024);
        Ok(())
    }

    fn func(
        func: &TableFunctionInfo<Self>,
        output: &mut DataChunkHandle,
    ) -> Result<(), Box<dyn std::error::Error>> {
        match func.get_bind_data().next() {
            Some(slice) => record_batch_to_duckdb_data_chunk(&slice, output)?,
            None => output.set_len(0),
        }
        Ok(())
    }

    fn parameters() -> Option<Vec<LogicalTypeHandle>> {
        Some(vec![LogicalTypeHandle::from(LogicalTypeId::UBigint)])
    }
}

/// Registers [`FUNCTION`] on `conn`'s database (once per connection; a second registration
/// is refused by DuckDB and ignored here).
pub(crate) fn register(conn: &Connection) {
    if let Err(e) = conn.register_table_function::<FeedVTab>(FUNCTION) {
        tracing::trace!(error = %e, "table function already registered");
    }
}
