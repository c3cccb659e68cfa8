//! Saving and loading the paper venue's state for snapshots ([`BrokerState`]).

use super::{BrokerState, PaperBroker};

impl PaperBroker {
    /// Everything that changes as the venue trades.
    pub fn save_state(&self) -> BrokerState {
        BrokerState {
            mids_x2: self.rates.mids_x2().to_vec(),
            quotes: self.quotes.clone(),
            positions: self.positions.values().cloned().collect(),
            protected: self.protected.clone(),
            balance: self.balance,
            realized: self.realized,
            commission: self.commission,
            next_order_id: self.next_order_id,
            awaiting: self.awaiting.clone(),
            last_venue_txn: self.last_venue_txn,
            feed_stale: self.feed_stale,
        }
    }

    /// Replaces the venue's state with a saved one; the instrument table must be the one it was saved with.
    pub fn load_state(&mut self, s: BrokerState) -> Result<(), String> {
        let n = self.instruments.len();
        if s.quotes.len() != n || s.protected.len() != n || !self.rates.set_mids_x2(&s.mids_x2) {
            return Err(format!("broker state is for {} instruments, this server has {n}", s.quotes.len()));
        }
        if let Some(p) = s.positions.iter().find(|p| self.instruments.try_get(p.instrument).is_none()) {
            return Err(format!("broker state holds a position in unknown instrument id {}", p.instrument.0));
        }
        self.quotes = s.quotes;
        self.positions = s.positions.into_iter().map(|p| ((p.book, p.instrument), p)).collect();
        self.protected = s.protected;
        for books in &mut self.protected {
            books.reserve(16);
        }
        self.balance = s.balance;
        self.realized = s.realized;
        self.commission = s.commission;
        self.next_order_id = s.next_order_id;
        self.awaiting = s.awaiting;
        self.last_venue_txn = s.last_venue_txn;
        self.feed_stale = s.feed_stale;
        Ok(())
    }
}
