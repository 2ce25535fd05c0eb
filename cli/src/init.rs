//! `skiff init NAME --template js|ts|hono`: a new project that runs at once.

use std::path::PathBuf;

use anyhow::{Context, Result, anyhow, bail};
use clap::{Args, ValueEnum};
use skiff_protocol::validate_script_name;

#[derive(Args)]
pub struct InitArgs {
    /// The worker's name; also the folder created for it.
    name: String,
    /// What to start from.
    #[arg(long, value_enum, default_value_t = Template::Ts)]
    template: Template,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Template {
    /// One JavaScript module.
    Js,
    /// One TypeScript module, with a tsconfig.json.
    Ts,
    /// A TypeScript Hono app (hono from npm: run `npm install` first).
    Hono,
}

/// The version range a new Hono project asks npm for.
const HONO: &str = "^4.13.19";

const GITIGNORE: &str = ".dev.vars\nnode_modules/\n.skiff/\n";

const INDEX_JS: &str = "export default {
  async fetch(request, env, ctx) {
    const url = new URL(request.url);
    return new Response(`${env.GREETING} from ${url.hostname}!\\n`);
  },
};
";

const INDEX_TS: &str = "interface Env {
  GREETING: string;
}

export default {
  async fetch(request: Request, env: Env, ctx: ExecutionContext): Promise<Response> {
    const url = new URL(request.url);
    return new Response(`${env.GREETING} from ${url.hostname}!\\n`);
  },
};

// The part of the Workers context this worker uses (`@cloudflare/workers-types` has it all).
interface ExecutionContext {
  waitUntil(promise: Promise<unknown>): void;
}
";

const HONO_TS: &str = "import { Hono } from \"hono\";

type Bindings = { GREETING: string };

const app = new Hono<{ Bindings: Bindings }>();

app.get(\"/\", (c) => c.text(`${c.env.GREETING} from Hono!\\n`));
app.get(\"/hello/:name\", (c) => c.json({ hello: c.req.param(\"name\") }));

export default app;
";

fn tsconfig(jsx_import_source: Option<&str>) -> String {
    let mut options = serde_json::json!({
        "target": "ESNext",
        "module": "ESNext",
        "moduleResolution": "Bundler",
        "strict": true,
        "skipLibCheck": true,
    });
    if let Some(source) = jsx_import_source {
        options["jsx"] = "react-jsx".into();
        options["jsxImportSource"] = source.into();
    }
    let config = serde_json::json!({ "compilerOptions": options });
    format!(
        "{}\n",
        serde_json::to_string_pretty(&config).unwrap_or_default()
    )
}

/// The files of a new project named `name` made from `template`.
fn files(name: &str, template: Template) -> Vec<(&'static str, String)> {
    let today = chrono::Utc::now().format("%Y-%m-%d");
    let main = match template {
        Template::Js => "src/index.js",
        Template::Ts | Template::Hono => "src/index.ts",
    };
    let config = format!(
        "name = \"{name}\"\nmain = \"{main}\"\ncompatibility_date = \"{today}\"\n\n\
         [vars]\nGREETING = \"Hello\"\n"
    );
    let mut files = vec![
        ("skiff.toml", config),
        (".gitignore", GITIGNORE.to_string()),
    ];
    match template {
        Template::Js => files.push(("src/index.js", INDEX_JS.to_string())),
        Template::Ts => {
            files.push(("src/index.ts", INDEX_TS.to_string()));
            files.push(("tsconfig.json", tsconfig(None)));
        }
        Template::Hono => {
            files.push(("src/index.ts", HONO_TS.to_string()));
            files.push(("tsconfig.json", tsconfig(Some("hono/jsx"))));
            let package = serde_json::json!({
                "name": name,
                "private": true,
                "type": "module",
                "scripts": { "dev": "skiff dev", "deploy": "skiff deploy" },
                "dependencies": { "hono": HONO },
            });
            files.push((
                "package.json",
                format!(
                    "{}\n",
                    serde_json::to_string_pretty(&package).unwrap_or_default()
                ),
            ));
        }
    }
    files
}

pub fn init(args: InitArgs) -> Result<()> {
    validate_script_name(&args.name).map_err(|message| anyhow!(message))?;
    let dir = PathBuf::from(&args.name);
    if dir.exists() && std::fs::read_dir(&dir)?.next().is_some() {
        bail!("{} already exists and is not empty", dir.display());
    }
    std::fs::create_dir_all(dir.join("src"))
        .with_context(|| format!("creating {}", dir.display()))?;
    let files = files(&args.name, args.template);
    for (path, text) in &files {
        let path = dir.join(path);
        std::fs::write(&path, text).with_context(|| format!("writing {}", path.display()))?;
    }
    let names: Vec<&str> = files.iter().map(|(path, _)| *path).collect();
    println!("Created {}/ ({})", args.name, names.join(", "));
    if args.template == Template::Hono {
        println!("  cd {} && npm install  # fetch hono", args.name);
        println!("  skiff dev                # run it locally");
    } else {
        println!("  cd {} && skiff dev      # run it locally", args.name);
    }
    println!("  skiff deploy              # put it on every edge node");
    Ok(())
}
