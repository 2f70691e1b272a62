//! Skyway's controllers: processes that hold roles (`runway/07`, `segment/12`) through the
//! coordinator's election recipe, act only while primary, and stamp every command with the
//! role's fencing token so that actuators refuse a stale primary.
//!
//! Status: not built yet (issue 4). There is deliberately no code here rather than pretend code.
