//! `kiln run`: run a model or plan once on inputs read from files.

use crate::model::{self, quote_list};
use crate::npy;
use anyhow::{Context, Result, bail};
use clap::Args;
use kiln_core::{Tensor, Value, ValueInfo, ValueType};
use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// Arguments of `kiln run`.
#[derive(Debug, Args)]
pub struct RunArgs {
    /// The ONNX model, Caffe .prototxt (with --weights) or plan file to run.
    #[arg(value_name = "MODEL")]
    model: PathBuf,

    /// An input value: NAME=FILE, where FILE is a NumPy .npy file or an ONNX TensorProto
    /// .pb file (told apart by content). Repeat for every input of the model.
    #[arg(short, long = "input", value_name = "NAME=FILE")]
    inputs: Vec<String>,

    /// Write each output to DIR/<name>.npy (the folder is created when missing).
    #[arg(short, long, value_name = "DIR")]
    output_dir: Option<PathBuf>,

    /// Number of worker threads (default: all cores).
    #[arg(short, long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    threads: Option<u32>,

    /// Device to build for and run on: cpu, cuda (GPU 0) or cuda:N. A plan runs on the
    /// device it was built for.
    #[arg(long, value_name = "DEVICE", default_value = "cpu")]
    device: kiln_engine::Device,

    /// How many leading values of each output to print.
    #[arg(long, value_name = "N", default_value_t = 8)]
    show: usize,

    #[command(flatten)]
    precision: crate::build::PrecisionArgs,

    #[command(flatten)]
    caffe: model::CaffeArgs,

    #[command(flatten)]
    plugins: model::PluginArgs,
}

/// Run the subcommand.
pub fn main(args: RunArgs) -> Result<()> {
    model::init_plugins(&args.plugins)?;
    // Check the --input syntax before the (possibly slow) build.
    let specs = args
        .inputs
        .iter()
        .map(|s| parse_input_spec(s))
        .collect::<Result<Vec<_>>>()?;
    let mut config = model::builder_config(args.threads.map(|t| t as usize), HashMap::new(), None);
    config.device = args.device;
    args.precision.apply(&mut config)?;
    let loaded = model::load(&args.model, config, &args.caffe)?;
    let engine = &loaded.engine;
    tracing::info!(
        kind = loaded.kind.name(),
        seconds = loaded.load_time.as_secs_f64(),
        "loaded {}",
        args.model.display()
    );
    let inputs = read_inputs(&specs, engine.inputs())?;
    let mut ctx = engine.create_context();
    let outputs: Vec<(String, Value)> = if inputs.values().all(|v| matches!(v, Value::Tensor(_))) {
        let tensors = inputs
            .into_iter()
            .filter_map(|(k, v)| match v {
                Value::Tensor(t) => Some((k, t)),
                _ => None,
            })
            .collect();
        ctx.run(tensors)
            .with_context(|| format!("running '{}' failed", args.model.display()))?
            .into_iter()
            .map(|(n, t)| (n, Value::Tensor(t)))
            .collect()
    } else {
        ctx.execute(inputs)
            .with_context(|| format!("running '{}' failed", args.model.display()))?
    };
    report_placement(&ctx);
    if let Some(dir) = &args.output_dir {
        std::fs::create_dir_all(dir)
            .with_context(|| format!("cannot create output folder '{}'", dir.display()))?;
    }
    for (name, value) in &outputs {
        print_and_save(name, value, args.output_dir.as_deref(), args.show)?;
    }
    Ok(())
}

/// Split `NAME=FILE`.
fn parse_input_spec(spec: &str) -> Result<(String, PathBuf)> {
    match spec.split_once('=') {
        Some((name, file)) if !name.is_empty() && !file.is_empty() => {
            Ok((name.to_string(), PathBuf::from(file)))
        }
        _ => bail!("bad --input '{spec}': expected NAME=FILE, e.g. --input input=image.npy"),
    }
}

/// Read every input file and check it against the model's inputs: unknown names, missing
/// inputs (all of them named at once), dtypes and shapes.
fn read_inputs(
    specs: &[(String, PathBuf)],
    wanted: &[ValueInfo],
) -> Result<HashMap<String, Value>> {
    let mut values = HashMap::new();
    for (name, file) in specs {
        let Some(info) = wanted.iter().find(|i| &i.name == name) else {
            bail!(
                "the model has no input '{name}' (given with --input {name}={}); its inputs are {}",
                file.display(),
                quote_list(wanted.iter().map(|i| i.name.as_str()))
            );
        };
        if values.contains_key(name) {
            bail!("input '{name}' is given twice");
        }
        let value = read_value(file, &info.ty).with_context(|| format!("input '{name}'"))?;
        check_value(&value, &info.ty)
            .with_context(|| format!("input '{name}' from '{}'", file.display()))?;
        values.insert(name.clone(), value);
    }
    let missing: Vec<&ValueInfo> = wanted
        .iter()
        .filter(|i| !values.contains_key(&i.name))
        .collect();
    if !missing.is_empty() {
        let list: Vec<String> = missing
            .iter()
            .map(|i| format!("'{}' ({})", i.name, describe_type(&i.ty)))
            .collect();
        bail!(
            "missing input{} {}: give each with --input NAME=FILE",
            if missing.len() > 1 { "s" } else { "" },
            list.join(", ")
        );
    }
    Ok(values)
}

/// Read one value from a `.npy` or `.pb` file (told apart by the NumPy magic number).
pub fn read_value(file: &Path, ty: &ValueType) -> Result<Value> {
    let bytes = std::fs::read(file).with_context(|| format!("cannot read '{}'", file.display()))?;
    let npy_name = file
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("npy"));
    if npy_name || bytes.starts_with(b"\x93NUMPY") {
        let t = npy::parse_npy(&bytes)
            .with_context(|| format!("'{}' is not a readable .npy file", file.display()))?;
        return Ok(match ty {
            ValueType::Optional(inner) if matches!(**inner, ValueType::Tensor(_)) => {
                Value::Optional(Some(Box::new(Value::Tensor(t))))
            }
            _ => Value::Tensor(t),
        });
    }
    kiln_onnx::value_from_pb(&bytes, ty).with_context(|| {
        format!(
            "'{}' is neither a .npy file nor a readable ONNX protobuf value",
            file.display()
        )
    })
}

/// Compare a value with the declared type: dtype and shape (symbolic dims match anything).
fn check_value(value: &Value, ty: &ValueType) -> Result<()> {
    match (value, ty) {
        (Value::Tensor(t), ValueType::Tensor(fact)) => {
            if let Some(dt) = fact.dtype.filter(|&dt| dt != t.dtype()) {
                bail!(
                    "wrong dtype: the model expects {dt}, the file holds {}",
                    t.dtype()
                );
            }
            if let Some(shape) = fact.shape.as_ref().filter(|s| !s.matches(t.shape())) {
                bail!(
                    "wrong shape: the model expects {shape}, the file holds {}",
                    kiln_core::Shape::fixed(t.shape())
                );
            }
            Ok(())
        }
        (Value::Sequence(items), ValueType::Sequence(inner)) => {
            for (i, t) in items.iter().enumerate() {
                check_value(&Value::Tensor(t.clone()), inner)
                    .with_context(|| format!("sequence element {i}"))?;
            }
            Ok(())
        }
        (Value::Optional(None), ValueType::Optional(_)) => Ok(()),
        (Value::Optional(Some(v)), ValueType::Optional(inner)) => check_value(v, inner),
        (v, t) => bail!(
            "the model expects {}, the file holds {}",
            describe_type(t),
            describe_value(v)
        ),
    }
}

/// `f32 [N,3,32,32]`, `sequence of f32 [?]`, ...
pub fn describe_type(ty: &ValueType) -> String {
    match ty {
        ValueType::Tensor(f) => {
            let dt = f.dtype.map_or("?".to_string(), |d| d.to_string());
            match &f.shape {
                Some(s) => format!("{dt} {s}"),
                None => format!("{dt} of any shape"),
            }
        }
        ValueType::Sequence(inner) => format!("sequence of {}", describe_type(inner)),
        ValueType::Optional(inner) => format!("optional {}", describe_type(inner)),
    }
}

fn describe_value(v: &Value) -> String {
    match v {
        Value::Tensor(t) => format!("a {} tensor {:?}", t.dtype(), t.shape()),
        Value::Sequence(items) => format!("a sequence of {} tensors", items.len()),
        Value::Optional(None) => "an empty optional".to_string(),
        Value::Optional(Some(v)) => format!("an optional holding {}", describe_value(v)),
    }
}

/// Print one output and write it (or its elements) to the output folder.
fn print_and_save(name: &str, value: &Value, dir: Option<&Path>, show: usize) -> Result<()> {
    let stem = file_stem(name);
    let save = |suffix: &str, t: &Tensor| -> Result<()> {
        if let Some(dir) = dir {
            let path = dir.join(format!("{stem}{suffix}.npy"));
            npy::write_npy(&path, t).with_context(|| format!("output '{name}'"))?;
        }
        Ok(())
    };
    match value {
        Value::Tensor(t) => {
            println!("{name}: {}", summarize(t, show));
            save("", t)?;
        }
        Value::Sequence(items) => {
            println!("{name}: sequence of {} tensors", items.len());
            for (i, t) in items.iter().enumerate() {
                println!("  [{i}]: {}", summarize(t, show));
                save(&format!("_{i}"), t)?;
            }
        }
        Value::Optional(None) => println!("{name}: optional, empty"),
        Value::Optional(Some(inner)) => match inner.as_ref() {
            Value::Tensor(t) => {
                println!("{name}: optional {}", summarize(t, show));
                save("", t)?;
            }
            other => print_and_save(name, other, dir, show)?,
        },
    }
    Ok(())
}

/// The file name (without `.npy`) of an output: `/`, `:` and `\` become `_`.
pub fn file_stem(name: &str) -> String {
    name.chars()
        .map(|c| {
            if matches!(c, '/' | ':' | '\\') {
                '_'
            } else {
                c
            }
        })
        .collect()
}

/// `f32 [1,10] [0.00357, 0.0325, ...]`: dtype, shape and the first `n` values.
pub fn summarize(t: &Tensor, n: usize) -> String {
    let shape: Vec<String> = t.shape().iter().map(|d| d.to_string()).collect();
    let mut values: Vec<String> = match t {
        Tensor::String(a) => a.iter().take(n).map(|s| format!("{s:?}")).collect(),
        Tensor::Bool(a) => a.iter().take(n).map(|b| b.to_string()).collect(),
        t if t.dtype().is_float() => match t.to_f64_vec() {
            Ok(v) => v.into_iter().take(n).map(fmt_float).collect(),
            Err(_) => Vec::new(),
        },
        t => match t.to_i64_vec() {
            Ok(v) => v.into_iter().take(n).map(|x| x.to_string()).collect(),
            Err(_) => Vec::new(),
        },
    };
    if t.len() > n {
        values.push("...".to_string());
    }
    format!(
        "{} [{}] [{}]",
        t.dtype(),
        shape.join(","),
        values.join(", ")
    )
}

/// Six significant digits, scientific notation for very large or small magnitudes.
fn fmt_float(x: f64) -> String {
    let a = x.abs();
    if x == 0.0 || x.is_nan() || x.is_infinite() {
        format!("{x}")
    } else if (1e-4..1e6).contains(&a) {
        let digits = (5 - a.log10().floor() as i32).max(0) as usize;
        let s = format!("{x:.digits$}");
        if s.contains('.') {
            s.trim_end_matches('0').trim_end_matches('.').to_string()
        } else {
            s
        }
    } else {
        format!("{x:.5e}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn input_spec_syntax() {
        assert_eq!(
            parse_input_spec("x=a=b.npy").unwrap(),
            ("x".to_string(), PathBuf::from("a=b.npy"))
        );
        for bad in ["x", "=f.npy", "x="] {
            let e = parse_input_spec(bad).unwrap_err().to_string();
            assert!(e.contains("expected NAME=FILE"), "{e}");
        }
    }

    #[test]
    fn names_and_summaries() {
        assert_eq!(file_stem("a/b:0"), "a_b_0");
        let t = Tensor::from_vec(&[1, 3], vec![0.001234567f32, 12345.678, -2.0]).unwrap();
        assert_eq!(summarize(&t, 2), "f32 [1,3] [0.00123457, 12345.7, ...]");
        let t = Tensor::from_vec(&[2], vec![1e-9f64, 3e9]).unwrap();
        assert_eq!(summarize(&t, 8), "f64 [2] [1.00000e-9, 3.00000e9]");
        assert_eq!(summarize(&Tensor::scalar(7i64), 8), "i64 [] [7]");
    }

    #[test]
    fn checks_types_and_shapes() {
        use kiln_core::{DataType, Dim, Shape, TensorFact};
        let ty = ValueType::Tensor(TensorFact::new(
            DataType::F32,
            Shape(vec![Dim::Sym("N".into()), Dim::Fixed(3)]),
        ));
        let ok = Value::Tensor(Tensor::zeros(DataType::F32, &[5, 3]));
        assert!(check_value(&ok, &ty).is_ok());
        let bad_shape = Value::Tensor(Tensor::zeros(DataType::F32, &[5, 4]));
        assert!(format!("{:#}", check_value(&bad_shape, &ty).unwrap_err()).contains("wrong shape"));
        let bad_type = Value::Tensor(Tensor::zeros(DataType::F64, &[5, 3]));
        assert!(format!("{:#}", check_value(&bad_type, &ty).unwrap_err()).contains("wrong dtype"));
    }
}

/// On a GPU engine, tell which layers ran on the GPU and which fell back to the CPU.
pub fn report_placement(ctx: &kiln_engine::ExecutionContext) {
    let placement = ctx.gpu_placement();
    if placement.is_empty() {
        return;
    }
    let on_gpu = placement.iter().filter(|p| p.on_gpu).count();
    eprintln!(
        "device: {} ({} of {} layers on the GPU, device arena {} bytes)",
        ctx.engine().device_name(),
        on_gpu,
        placement.len(),
        ctx.device_arena_bytes()
    );
    for p in placement.iter().filter(|p| !p.on_gpu) {
        eprintln!(
            "  cpu fallback: {} ({}) via {}",
            p.layer, p.op_type, p.kernel
        );
    }
}
