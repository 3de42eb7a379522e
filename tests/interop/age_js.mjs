#!/usr/bin/env node
// A tiny CLI over the npm package `age-encryption` (typage), an age implementation independent of
// sealer, for tests/test_age_pq.py. Data goes through stdin and stdout; errors exit 1.
//
//   node age_js.mjs keygen [--pq]            an identity file, as age-keygen [-pq] writes it
//   node age_js.mjs recipient < KEYFILE      the recipient of each identity, one per line
//   node age_js.mjs encrypt [--armor] -r RECIPIENT... < PLAIN > AGEFILE
//   node age_js.mjs decrypt -i KEYFILE... < AGEFILE > PLAIN  (binary or armored input)
import { readFileSync } from "node:fs"
import * as age from "age-encryption"

function identities(text) {
    return text.split(/\r?\n/).map(line => line.trim()).filter(l => l && !l.startsWith("#"))
}

function values(args, flag) {
    return args.flatMap((arg, i) => (arg === flag ? [args[i + 1]] : []))
}

async function keygen(args) {
    const identity = args.includes("--pq")
        ? await age.generateHybridIdentity()
        : await age.generateX25519Identity()
    const recipient = await age.identityToRecipient(identity)
    const created = new Date().toISOString().replace(/\.\d+Z$/, "Z")
    return `# created: ${created}\n# public key: ${recipient}\n${identity}\n`
}

async function recipient(input) {
    const lines = identities(new TextDecoder().decode(input))
    const recipients = await Promise.all(lines.map(line => age.identityToRecipient(line)))
    return recipients.map(r => r + "\n").join("")
}

async function encrypt(args, input) {
    const encrypter = new age.Encrypter()
    for (const r of values(args, "-r")) encrypter.addRecipient(r)
    const file = await encrypter.encrypt(input)
    return args.includes("--armor") ? age.armor.encode(file) : file
}

async function decrypt(args, input) {
    const decrypter = new age.Decrypter()
    for (const path of values(args, "-i")) {
        for (const identity of identities(readFileSync(path, "utf8"))) decrypter.addIdentity(identity)
    }
    const text = new TextDecoder().decode(input.subarray(0, 64))
    const file = text.trimStart().startsWith("-----BEGIN")
        ? age.armor.decode(new TextDecoder().decode(input))
        : input
    return decrypter.decrypt(file)
}

const [command, ...args] = process.argv.slice(2)
const input = command === "keygen" ? new Uint8Array() : new Uint8Array(readFileSync(0))
const commands = {
    keygen: () => keygen(args),
    recipient: () => recipient(input),
    encrypt: () => encrypt(args, input),
    decrypt: () => decrypt(args, input),
}
if (!(command in commands)) {
    process.stderr.write("usage: age_js.mjs keygen|recipient|encrypt|decrypt …\n")
    process.exit(2)
}
try {
    process.stdout.write(await commands[command]())
} catch (error) {
    process.stderr.write(`age_js: error: ${error.message}\n`)
    process.exit(1)
}
