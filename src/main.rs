//! Entry point: parse arguments, load configuration, set up logging, run until stopped.

use std::{net::SocketAddr, path::PathBuf, process::ExitCode, time::Duration};

use axum::Router;
use clap::{Parser, Subcommand};
use hosted_fields_broker::{config, demo, startup, telemetry};

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

/// A Docker health probe that hangs is a failed probe; answer well inside its own timeout.
const HEALTHCHECK_TIMEOUT: Duration = Duration::from_secs(2);

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
    if let Command::CheckConfig = command {
        print!("{}", settings.redacted());
        return ExitCode::SUCCESS;
    }
    telemetry::init(settings.log_format);
    let extra = if demo_mode {
        demo::routes()
    } else {
        Router::new()
    };
    let app = match startup::Application::build(&settings, extra).await {
        Ok(app) => app,
        Err(error) => {
            return fail(&format!(
                "cannot listen on {}: {error}",
                settings.server.listen
            ));
        }
    };
    if let Some(fake) = &fake {
        // The URL line last: scripts wait for it.
        println!("demo: fake Payroc control at {}", fake.control_url());
        println!(
            "demo: open http://{}/ (fake Payroc, no credentials needed)",
            app.local_addr()
        );
    }
    tracing::info!(listen = %app.local_addr(), environment = ?settings.payroc.environment, "hosted-fields-broker listening");
    match app.run_until_stopped(startup::shutdown_signal()).await {
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
    if listen.port() == 0 {
        return fail(&"healthcheck: server.listen has port 0, so there is no known port to probe");
    }
    let url = format!("http://{}/healthz", probe_address(listen));
    // No proxy: an HTTP_PROXY in the container must not carry a loopback probe elsewhere.
    let client = reqwest::Client::builder()
        .timeout(HEALTHCHECK_TIMEOUT)
        .redirect(reqwest::redirect::Policy::none())
        .no_proxy()
        .build();
    let response = match client {
        Ok(client) => client.get(&url).send().await,
        Err(error) => return fail(&format!("healthcheck: {error}")),
    };
    match response {
        Ok(response) if response.status() == reqwest::StatusCode::OK => ExitCode::SUCCESS,
        Ok(response) => fail(&format!(
            "healthcheck: {url} answered {}",
            response.status()
        )),
        Err(error) => fail(&format!("healthcheck: {url}: {}", root_cause(&error))),
    }
}

/// reqwest's own message only repeats the URL; the innermost cause says what went wrong.
fn root_cause<'a>(
    error: &'a (dyn std::error::Error + 'static),
) -> &'a (dyn std::error::Error + 'static) {
    std::iter::successors(Some(error), |e| e.source())
        .last()
        .unwrap_or(error)
}

/// A wildcard listener (`0.0.0.0`, `::`) is reached through loopback of the same family.
fn probe_address(listen: SocketAddr) -> SocketAddr {
    let mut address = listen;
    if listen.ip().is_unspecified() {
        address.set_ip(match listen {
            SocketAddr::V4(_) => std::net::Ipv4Addr::LOCALHOST.into(),
            SocketAddr::V6(_) => std::net::Ipv6Addr::LOCALHOST.into(),
        });
    }
    address
}

fn fail(error: &dyn std::fmt::Display) -> ExitCode {
    eprintln!("hosted-fields-broker: {error}");
    ExitCode::FAILURE
}
