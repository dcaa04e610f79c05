import { DiagnosticSeverity, Parser, type AsyncAPIDocumentInterface } from '@asyncapi/parser';

export interface ParsedAsyncApi {
  /** The parsed document, absent when it has errors. */
  document?: AsyncAPIDocumentInterface;
  /** Every error and warning of the parser, as `<code> <message> at <path>`. */
  problems: string[];
}

/** Parses and validates an AsyncAPI document with the official parser, as AsyncAPI tools read it. */
export async function parseAsyncApi(document: unknown): Promise<ParsedAsyncApi> {
  const { document: parsed, diagnostics } = await new Parser().parse(JSON.stringify(document));
  const problems = diagnostics
    .filter(({ severity }) => severity === DiagnosticSeverity.Error || severity === DiagnosticSeverity.Warning)
    .map(({ code, message, path }) => `${String(code)} ${message} at ${path.join('/')}`);
  return { document: parsed, problems };
}
