//! Entry point: parse arguments, load configuration, set up logging, run until stopped.

use std::{path::PathBuf, process::ExitCode};

use axum::Router;
use clap::{Parser, Subcommand};
use hosted_fields_broker::{config, demo, startup, telemetry, tenants};

/// The request path allocates many small, short-lived buffers (headers, JSON, futures); the
/// system allocator (glibc's, and musl's in the static image far more) spends a tenth of the
/// CPU there (bench/README.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(version, about = "Payroc Hosted Fields session broker")]
struct Cli {
    /// An extra TOML file layered over the defaults.
    #[arg(long, global = true, value_name = "FILE")]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand, Clone, Copy)]
enum Command {
    /// Run the broker against Payroc (the default).
    Serve,
    /// Run against an embedded fake Payroc and serve a demo checkout page.
    Demo,
    /// Validate the configuration and print it with secrets redacted.
    CheckConfig,
    /// Probe `GET /healthz` on the configured `server.listen` port over loopback; exit 0 on
    /// 200, else 1. For a container `HEALTHCHECK` (a scratch image has no curl).
    Healthcheck,
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    let command = cli.command.unwrap_or(Command::Serve);
    if let Command::Healthcheck = command {
        return healthcheck(&cli).await;
    }
    let demo_mode = matches!(command, Command::Demo);
    let mut raw = match config::load(cli.config.as_deref(), demo_mode) {
        Ok(raw) => raw,
        Err(error) => return fail(&error),
    };
    let fake = if demo_mode {
        match demo::start_fake(&mut raw).await {
            Ok(fake) => Some(fake),
            Err(error) => return fail(&format!("could not start the fake Payroc: {error}")),
        }
    } else {
        None
    };
    let settings = match raw.resolve(!demo_mode) {
        Ok(settings) => settings,
        Err(error) => return fail(&error),
    };
    // Traces: the standard OTEL_* variables; none set, none exported.
    let traces = match telemetry::TraceSettings::from_env() {
        Ok(traces) => traces,
        Err(error) => return fail(&error),
    };
    if let Command::CheckConfig = command {
        return match tenants::load(&settings) {
            Ok(spec) => {
                print!("{}", settings.redacted());
                println!("{}", tenants::summary(&spec));
                println!(
                    "# traces: {}",
                    traces
                        .as_ref()
                        .map_or_else(|| "off".to_owned(), telemetry::TraceSettings::summary)
                );
                ExitCode::SUCCESS
            }
            Err(error) => fail(&error),
        };
    }
    let telemetry = match telemetry::init(settings.log.format, traces.as_ref()) {
        Ok(telemetry) => telemetry,
        Err(error) => return fail(&error),
    };
    let extra = if demo_mode {
        demo::routes()
    } else {
        Router::new()
    };
    let app = match startup::Application::build(&settings, extra).await {
        Ok(app) => app,
        Err(startup::StartError::Tenants(error)) => return fail(&error),
        Err(startup::StartError::Listen(error)) => {
            return fail(&format!(
                "cannot listen on {}: {error}",
                settings.server.listen
            ));
        }
    };
    if let Some(fake) = &fake {
        // The URL line last: scripts wait for it.
        println!("demo: fake Payroc control at {}", fake.control_url());
        if settings.tenants.file.is_some() {
            println!(
                "demo: a backend's Payroc API: curl -H 'Authorization: Bearer {}' http://{}/payroc/v1/payments",
                demo::SERVICE_KEY,
                app.local_addr()
            );
        }
        println!(
            "demo: open http://{}/ (fake Payroc, no credentials needed)",
            app.local_addr()
        );
    }
    tracing::info!(listen = %app.local_addr(), environment = ?settings.payroc.environment, "hosted-fields-broker listening");
    let stopped = app.run_until_stopped(startup::shutdown_signal()).await;
    // The last spans (the requests drained just now) go out before the process does.
    let _ = tokio::task::spawn_blocking(move || telemetry.shutdown()).await;
    match stopped {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => fail(&format!("server error: {error}")),
    }
}

/// Reads only `server.listen` (no API key or terminals needed) and probes `/healthz` there.
async fn healthcheck(cli: &Cli) -> ExitCode {
    let listen = match config::load(cli.config.as_deref(), false) {
        Ok(raw) => raw.server.listen,
        Err(error) => return fail(&error),
    };
    match hosted_fields_broker::healthcheck::probe(listen).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => fail(&format!("healthcheck: {error}")),
    }
}

fn fail(error: &dyn std::fmt::Display) -> ExitCode {
    eprintln!("hosted-fields-broker: {error}");
    ExitCode::FAILURE
}
