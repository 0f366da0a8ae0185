//! `sso-agent install-service [--print]` and `uninstall-service [--print]`.

use anyhow::{Context, Result};
use sso_agent::service::{install_plan, uninstall_plan, ServicePlan};
use std::path::PathBuf;
use std::process::{Command, Stdio};

fn home() -> Result<PathBuf> {
    std::env::var_os("HOME")
        .filter(|home| !home.is_empty())
        .map(PathBuf::from)
        .context("HOME is not set")
}

pub fn install(print: bool) -> Result<()> {
    let binary = std::env::current_exe()
        .and_then(|exe| exe.canonicalize())
        .context("cannot find this binary's path")?;
    let plan = install_plan(&binary, &home()?);
    if print {
        for file in &plan.files {
            println!("# {}\n{}", file.path.display(), file.contents);
        }
        print_commands(&plan);
        return Ok(());
    }
    for file in &plan.files {
        if let Some(dir) = file.path.parent() {
            std::fs::create_dir_all(dir)
                .with_context(|| format!("cannot create {}", dir.display()))?;
        }
        std::fs::write(&file.path, &file.contents)
            .with_context(|| format!("cannot write {}", file.path.display()))?;
        println!("wrote {}", file.path.display());
    }
    run_commands(&plan)
}

pub fn uninstall(print: bool) -> Result<()> {
    let plan = uninstall_plan(&home()?);
    if print {
        print_commands(&plan);
        for file in &plan.files {
            println!("rm {}", file.path.display());
        }
        return Ok(());
    }
    // Stop and disable first, while the manager still knows the units.
    run_commands(&ServicePlan {
        files: Vec::new(),
        commands: plan.commands[..1].to_vec(),
        manager_probe: plan.manager_probe.clone(),
    })?;
    for file in &plan.files {
        match std::fs::remove_file(&file.path) {
            Ok(()) => println!("removed {}", file.path.display()),
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => {}
            Err(err) => {
                return Err(err).with_context(|| format!("cannot remove {}", file.path.display()))
            }
        }
    }
    run_commands(&ServicePlan {
        files: Vec::new(),
        commands: plan.commands[1..].to_vec(),
        manager_probe: plan.manager_probe,
    })
}

fn print_commands(plan: &ServicePlan) {
    for command in &plan.commands {
        println!("{}", command.join(" "));
    }
}

/// Runs the plan's commands where the service manager runs; otherwise says what to run later.
fn run_commands(plan: &ServicePlan) -> Result<()> {
    if plan.commands.is_empty() {
        return Ok(());
    }
    let manager_runs = Command::new(&plan.manager_probe[0])
        .args(&plan.manager_probe[1..])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|status| status.success());
    if !manager_runs {
        println!(
            "The service manager is not running here (`{}` failed); run these once it is:",
            plan.manager_probe.join(" ")
        );
        for command in &plan.commands {
            println!("  {}", command.join(" "));
        }
        return Ok(());
    }
    for command in &plan.commands {
        println!("running: {}", command.join(" "));
        let status = Command::new(&command[0])
            .args(&command[1..])
            .status()
            .with_context(|| format!("cannot run {}", command[0]))?;
        anyhow::ensure!(
            status.success(),
            "`{}` failed with {status}",
            command.join(" ")
        );
    }
    Ok(())
}
