//! pinion-io: tick files, importers, replay feeds and the journal.
