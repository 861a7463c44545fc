//! Prints every image field of the given files, folders or `-` (stdin) as JSON lines.
//!
//! ```text
//! cargo run -p tagwarden-manifest --example scan -- charts/rendered.yaml
//! ```
use tagwarden_manifest::{FindOptions, Limits, read_sources, scan};

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let sources = match read_sources(&args, &Limits::default()) {
        Ok(sources) => sources,
        Err(err) => {
            eprintln!("{err}");
            std::process::exit(2);
        }
    };
    for source in sources {
        match scan(&source.name, &source.contents, &FindOptions::default()) {
            Ok(found) => {
                for image in found.images {
                    println!("{}", serde_json::to_string(&image).expect("serialisable"));
                }
                for skipped in found.skipped {
                    println!("{}", serde_json::to_string(&skipped).expect("serialisable"));
                }
            }
            Err(err) => {
                eprintln!("{}", err.snippet(&source.contents));
                std::process::exit(2);
            }
        }
    }
}
