//! pinion-http: the REST APIs and the WebSocket push.
