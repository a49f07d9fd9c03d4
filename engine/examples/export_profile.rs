//! Profiling aid: one export of 64 tracks × 180 s, mix and stems (`perf record`).
use stemroom_engine::bounce::{
    self, ExportJob, ExportSettings, ExportTarget, SampleFormat, StemSettings,
};
struct Null(u64);
impl std::io::Write for Null {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.0 += b.len() as u64;
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}
impl std::io::Seek for Null {
    fn seek(&mut self, _: std::io::SeekFrom) -> std::io::Result<u64> {
        Ok(self.0)
    }
}
fn main() {
    let project = stemroom_engine::workload::mixing_project(48_000, 64, 180.0);
    let stems = std::env::args().nth(1).as_deref() == Some("stems");
    let settings = ExportSettings {
        target: Some(bounce::LoudnessTarget::STREAMING),
        ..ExportSettings::new(SampleFormat::Int24)
    };
    let job = ExportJob {
        project: &project,
        frames: 180 * 48_000,
        settings,
        mix: !stems,
        stems: stems.then(StemSettings::default),
        parallel: true,
    };
    let t = std::time::Instant::now();
    bounce::export(
        &job,
        &mut |_| Ok(Box::new(Null(0)) as Box<dyn ExportTarget>),
        &mut |_| true,
    )
    .unwrap();
    eprintln!("{:.2} s", t.elapsed().as_secs_f64());
}
