//! Entry point: parse arguments, load configuration, set up logging, run until stopped.

use std::{path::PathBuf, process::ExitCode};

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
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    let command = cli.command.unwrap_or(Command::Serve);
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
    if fake.is_some() {
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

fn fail(error: &dyn std::fmt::Display) -> ExitCode {
    eprintln!("hosted-fields-broker: {error}");
    ExitCode::FAILURE
}
