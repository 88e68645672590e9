//! `node_uname_info`: the kernel's uname(2) fields as labels.

use super::{CollectError, Collector};
use crate::metric::Family;

pub struct UnameCollector;

impl Collector for UnameCollector {
    fn collect(&mut self, out: &mut Vec<Family>) -> Result<(), CollectError> {
        let u = rustix::system::uname();
        let text = |s: &std::ffi::CStr| s.to_string_lossy().into_owned();
        let mut info = Family::gauge(
            "node_uname_info",
            "Labeled system information as provided by the uname system call.",
        );
        info.push(
            [
                ("domainname", text(u.domainname())),
                ("machine", text(u.machine())),
                ("nodename", text(u.nodename())),
                ("release", text(u.release())),
                ("sysname", text(u.sysname())),
                ("version", text(u.version())),
            ],
            1.0,
        );
        out.push(info);
        Ok(())
    }
}
