// Microsoft's @azure/storage-blob as the independent client of the Azure tests: it writes what
// lifeboat must read and reads what lifeboat wrote. Connection: AZURE_STORAGE_CONNECTION_STRING.
//   node sdk.mjs create-container <container>
//   node sdk.mjs put <container> <blob> <file> [metadata-json] [content-type]
//   node sdk.mjs get <container> <blob> <file>     -> {"contentType","metadata","etag","size","md5"} on stdout
//   node sdk.mjs list <container> <prefix>         -> ["name", ...] on stdout
//   node sdk.mjs sas <container> <permissions>     -> a container SAS query string ("r", "rl", "racwdl")
//   node sdk.mjs upload-file <container> <blob> <file>    the SDK's streamed file upload (bench/azure)
//   node sdk.mjs download-file <container> <blob> <file>  the SDK's streamed file download (bench/azure)
import { BlobServiceClient, ContainerSASPermissions, StorageSharedKeyCredential,
         generateBlobSASQueryParameters } from "@azure/storage-blob";
import { readFileSync, writeFileSync } from "node:fs";

const cs = process.env.AZURE_STORAGE_CONNECTION_STRING;
if (!cs) { console.error("sdk.mjs: AZURE_STORAGE_CONNECTION_STRING is not set"); process.exit(2); }
const service = BlobServiceClient.fromConnectionString(cs);
const [cmd, container, ...rest] = process.argv.slice(2);
const client = service.getContainerClient(container);

try {
  if (cmd === "create-container") {
    await client.createIfNotExists();
  } else if (cmd === "put") {
    const [blob, file, meta, contentType] = rest;
    const data = readFileSync(file);
    await client.getBlockBlobClient(blob).uploadData(data, {
      metadata: meta ? JSON.parse(meta) : undefined,
      blobHTTPHeaders: { blobContentType: contentType || "application/octet-stream" },
    });
  } else if (cmd === "get") {
    const [blob, file] = rest;
    const b = client.getBlobClient(blob);
    const buf = await b.downloadToBuffer();
    writeFileSync(file, buf);
    const p = await b.getProperties();
    const md5 = p.contentMD5 ? Buffer.from(p.contentMD5).toString("base64") : null;
    console.log(JSON.stringify({ contentType: p.contentType, metadata: p.metadata, etag: p.etag, size: p.contentLength, md5 }));
  } else if (cmd === "upload-file") { // the SDK's defaults: one Put Blob up to 256 MiB, else parallel blocks
    const [blob, file] = rest;
    await client.getBlockBlobClient(blob).uploadFile(file);
  } else if (cmd === "download-file") {
    const [blob, file] = rest;
    await client.getBlobClient(blob).downloadToFile(file);
  } else if (cmd === "list") {
    const names = [];
    for await (const item of client.listBlobsFlat({ prefix: rest[0] || undefined })) names.push(item.name);
    console.log(JSON.stringify(names));
  } else if (cmd === "sas") {
    const m = /AccountName=([^;]+)/.exec(cs), k = /AccountKey=([^;]+)/.exec(cs);
    const cred = new StorageSharedKeyCredential(m[1], k[1]);
    const sas = generateBlobSASQueryParameters({
      containerName: container,
      permissions: ContainerSASPermissions.parse(rest[0]),
      startsOn: new Date(Date.now() - 5 * 60 * 1000),
      expiresOn: new Date(Date.now() + 60 * 60 * 1000),
    }, cred);
    console.log(sas.toString());
  } else {
    console.error(`sdk.mjs: unknown command ${cmd}`); process.exit(2);
  }
} catch (e) {
  console.error(`sdk.mjs ${cmd}: ${e.statusCode ?? ""} ${e.code ?? ""} ${String(e.message).split("\n")[0]}`);
  process.exit(1);
}
