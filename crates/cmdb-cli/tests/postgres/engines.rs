//! Several `cmdb serve` processes on one database.
