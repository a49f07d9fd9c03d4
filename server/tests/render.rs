//! `stemroom render` on a real server's data directory, while the server
//! runs: the stored mix (or a saved version) at a loudness target, checked
//! by decoding the file and measuring it with the EBU-conformance-tested
//! meter; clear failures for an unknown project or version; clips whose
//! audio is missing play silent and are reported.

mod common;

use std::path::Path;
use std::process::{Command, Output};

use common::{Server, SyncClient, http};
use sha2::{Digest, Sha256};
use stemroom_engine::analysis::measure_file;
use stemroom_model::project::ProjectDoc;
use stemroom_model::review::ReviewDoc;
use yrs::{Doc, ReadTxn, StateVector, Transact};

const RATE: u32 = 48_000;

/// A mono 16-bit WAV: a 220 Hz tone at `amplitude` with a 30 ms burst of
/// four times that every half second (so a loud target needs limiting).
fn take(seconds: u32, amplitude: f64) -> Vec<u8> {
    let mut bytes = std::io::Cursor::new(Vec::new());
    let spec = hound::WavSpec {
        channels: 1,
        sample_rate: RATE,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    let mut writer = hound::WavWriter::new(&mut bytes, spec).unwrap();
    for i in 0..seconds * RATE {
        let burst = if i % (RATE / 2) < RATE / 33 { 4.0 } else { 1.0 };
        let x = amplitude
            * burst
            * (std::f64::consts::TAU * 220.0 * f64::from(i) / f64::from(RATE)).sin();
        writer
            .write_sample((x.clamp(-1.0, 1.0) * 32_767.0) as i16)
            .unwrap();
    }
    writer.finalize().unwrap();
    bytes.into_inner()
}

/// `stemroom render` on the server's storage.
fn render(server: &Server, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_stemroom"))
        .arg("render")
        .arg("--data-dir")
        .arg(&server.data_dir)
        .args(server.database.iter().flat_map(|url| ["--database", url]))
        .args(args)
        .output()
        .unwrap()
}

fn report(output: &Output) -> serde_json::Value {
    assert!(
        output.status.success(),
        "stemroom render failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn render_writes_the_stored_mix_at_its_target_while_the_server_runs() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), &[]);
    let (id, owner) = server.create_project("Render me").await;
    let audio = take(6, 0.1);
    let sha: String = Sha256::digest(&audio)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let r = http(
        &server.addr,
        "POST",
        &format!("/api/projects/{id}/assets?name=take.wav"),
        &[
            ("authorization", &format!("Bearer {owner}")),
            ("content-type", "application/octet-stream"),
        ],
        &audio,
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.text());

    // A track with the take, and a clip whose audio was never uploaded.
    let doc = Doc::new();
    let project = ProjectDoc::new(doc.clone());
    let mut client = SyncClient::connect(&server.addr, &id, "project", &owner, doc.clone())
        .await
        .unwrap();
    let mut track = String::new();
    client
        .edit(|txn| {
            track = project.add_track(txn, "take", 1);
            project.add_clip(txn, &track, &sha, 0, 6 * u64::from(RATE));
            let other = project.add_track(txn, "lost", 1);
            project.add_clip(txn, &other, &"ab".repeat(32), 0, u64::from(RATE));
        })
        .await;
    client.saved().await;
    // Saved as "Mix v1"; then the fader comes down 6 dB.
    let state = doc
        .transact()
        .encode_state_as_update_v1(&StateVector::default());
    let review_doc = Doc::new();
    let review = ReviewDoc::new(review_doc.clone());
    let mut reviewer = SyncClient::connect(&server.addr, &id, "review", &owner, review_doc)
        .await
        .unwrap();
    reviewer
        .edit(|txn| {
            review.save_version(txn, "Mix v1", "Ana", 0.0, &state);
        })
        .await;
    reviewer.saved().await;
    client
        .edit(|txn| {
            project.set_track_gain(txn, &track, -6.0);
        })
        .await;
    client.saved().await;

    // At −14 LUFS / −1 dBTP, 24-bit, while the server runs.
    let out = dir.path().join("mix.wav");
    let out_str = out.to_str().unwrap();
    let r = report(&render(
        &server,
        &[
            &id,
            "--out",
            out_str,
            "--target-lufs",
            "-14",
            "--ceiling-dbtp",
            "-1",
            "--json",
        ],
    ));
    let file = measure_file(&out).unwrap();
    assert_eq!((file.sample_rate, file.channels), (RATE, 2));
    assert_eq!(
        file.frames,
        9 * u64::from(RATE),
        "the song plus 3 s of tails"
    );
    assert!(
        (file.report.integrated_lufs + 14.0).abs() <= 0.3,
        "{:?}",
        file.report
    );
    assert!(file.report.true_peak_dbtp <= -1.0, "{:?}", file.report);
    assert!(
        (r["integrated_lufs"].as_f64().unwrap() - file.report.integrated_lufs).abs() < 0.01,
        "{r}"
    );
    assert!(r["passes"].as_u64().unwrap() >= 1);
    let missing = r["missing_audio"].as_array().unwrap();
    assert_eq!(missing.len(), 1, "{r}");
    assert_eq!(missing[0]["sha256"], "ab".repeat(32));
    assert_eq!(missing[0]["clips"], 1);
    assert!(
        r["platforms"][0]["says"]
            .as_str()
            .unwrap()
            .starts_with("Spotify")
    );

    // FLAC, lossless: the same audio as the WAV.
    let flac = dir.path().join("mix.flac");
    report(&render(
        &server,
        &[
            &id,
            "--out",
            flac.to_str().unwrap(),
            "--format",
            "flac24",
            "--target-lufs",
            "-14",
            "--json",
        ],
    ));
    let flac_file = measure_file(&flac).unwrap();
    assert_eq!(flac_file.frames, file.frames);
    assert_eq!(
        flac_file.report, file.report,
        "FLAC decodes to the WAV's samples"
    );

    // The same as text, for a person at a terminal.
    let text = render(&server, &[&id, "--out", out_str, "--target-lufs", "-14"]);
    let text = String::from_utf8_lossy(&text.stdout);
    assert!(
        text.contains(", 48000 Hz, 24-bit WAV\nIntegrated -1"),
        "{text}"
    );
    assert!(text.contains("Spotify will"), "{text}");
    assert!(
        text.contains(&format!(
            "missing audio {} (not in the asset store; 1 clip silent)",
            "ab".repeat(32)
        )),
        "{text}"
    );

    // The version, as it was: 6 dB louder than the project now.
    let now_path = dir.path().join("now.wav");
    let then_path = dir.path().join("then.wav");
    report(&render(
        &server,
        &[
            &id,
            "--out",
            now_path.to_str().unwrap(),
            "--format",
            "wav32f",
            "--json",
        ],
    ));
    report(&render(
        &server,
        &[
            &id,
            "--out",
            then_path.to_str().unwrap(),
            "--format",
            "wav32f",
            "--version",
            "Mix v1",
            "--json",
        ],
    ));
    let now = measure_file(&now_path).unwrap().report.integrated_lufs;
    let then = measure_file(&then_path).unwrap().report.integrated_lufs;
    assert!(
        (then - now - 6.0).abs() < 0.05,
        "version {then} LUFS, now {now} LUFS"
    );

    // Stems beside the mix, in one pass: the take through a delay on a
    // return bus. They sum to the mix (its master has no chain).
    client
        .edit(|txn| {
            let bus = project.add_bus(txn, "Delay/return");
            project.add_device(txn, &bus, stemroom_engine::device::DeviceKind::Delay);
            project.add_send(txn, &track, &bus, -6.0, false);
        })
        .await;
    client.saved().await;
    let stems_dir = dir.path().join("stems");
    let mix_path = dir.path().join("with-stems.wav");
    let r = report(&render(
        &server,
        &[
            &id,
            "--out",
            mix_path.to_str().unwrap(),
            "--stems",
            stems_dir.to_str().unwrap(),
            "--format",
            "wav32f",
            "--json",
        ],
    ));
    let stems = r["stems"].as_array().unwrap();
    let names: Vec<&str> = stems.iter().map(|s| s["stem"].as_str().unwrap()).collect();
    assert_eq!(names, ["01 take", "02 lost", "03 Delay/return"]);
    let files: Vec<String> = stems
        .iter()
        .map(|s| s["file"].as_str().unwrap().to_string())
        .collect();
    assert!(
        files[2].ends_with("stems/Render me - 03 Delay_return.wav"),
        "{files:?}"
    );
    let read = |path: &Path| -> Vec<f32> {
        hound::WavReader::open(path)
            .unwrap()
            .samples::<f32>()
            .map(Result::unwrap)
            .collect()
    };
    let mix = read(&mix_path);
    let mut sum = vec![0.0f64; mix.len()];
    for file in &files {
        let stem = read(Path::new(file));
        assert_eq!(stem.len(), mix.len(), "{file}");
        for (acc, x) in sum.iter_mut().zip(stem) {
            *acc += f64::from(x);
        }
    }
    let worst = sum
        .iter()
        .zip(&mix)
        .map(|(a, b)| (a - f64::from(*b)).abs())
        .fold(0.0, f64::max);
    assert!(20.0 * worst.log10() < -90.0, "the stems null to {worst}");
    let wet: f32 = read(Path::new(&files[2])).iter().map(|x| x.abs()).sum();
    assert!(wet > 1.0, "the return carries the delay");

    // At 44.1 kHz: the song's length at that rate.
    let rated = dir.path().join("rated.wav");
    report(&render(
        &server,
        &[
            &id,
            "--out",
            rated.to_str().unwrap(),
            "--rate",
            "44100",
            "--json",
        ],
    ));
    let rated = measure_file(&rated).unwrap();
    assert_eq!((rated.sample_rate, rated.frames), (44_100, 9 * 44_100));
    let odd = render(&server, &[&id, "--out", "x.wav", "--rate", "12345"]);
    assert!(!odd.status.success());
    assert!(String::from_utf8_lossy(&odd.stderr).contains("44100"));

    // Clear failures, nothing written.
    let bad = dir.path().join("bad.wav");
    let bad_str = bad.to_str().unwrap();
    let unknown = render(&server, &["nosuchproject", "--out", bad_str]);
    // Ids may start with a dash, and are still ids.
    let dashed = render(&server, &["-cNoSuchProject", "--out", bad_str]);
    assert!(String::from_utf8_lossy(&dashed.stderr).contains("no project -cNoSuchProject"));
    assert!(!unknown.status.success());
    assert!(String::from_utf8_lossy(&unknown.stderr).contains("no project nosuchproject"));
    let no_version = render(&server, &[&id, "--out", bad_str, "--version", "Mix v9"]);
    assert!(!no_version.status.success());
    let said = String::from_utf8_lossy(&no_version.stderr);
    assert!(
        said.contains("no version “Mix v9”") && said.contains("Mix v1"),
        "{said}"
    );
    assert!(!bad.exists());
    let nowhere = Command::new(env!("CARGO_BIN_EXE_stemroom"))
        .arg("render")
        .arg("--data-dir")
        .arg(dir.path().join("empty"))
        .args([&id, "--out", bad_str])
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&nowhere.stderr).contains("no Stemroom data"));
    drop(server);
}
