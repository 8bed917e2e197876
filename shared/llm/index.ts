export { AIMessage, HumanMessage, SystemMessage, ToolMessage } from '@langchain/core/messages';
export type { BaseMessage } from '@langchain/core/messages';
export { createLlm } from './client.ts';
export type { CallOptions, Llm, LlmDeps, ModelReply, ModelToolCall } from './client.ts';
export { LlmConfigSchema, modelFor, roleModelKey } from './config.ts';
export type { LlmConfig } from './config.ts';
export { cosine, createEmbedder } from './embeddings.ts';
export type { Embedder, EmbedderDeps } from './embeddings.ts';
export {
  BudgetExceededError,
  ModelBehaviorError,
  ModelRequestError,
  ModelTimeoutError,
  ModelUnavailableError,
} from './errors.ts';
export type { ModelBehaviorCode, RepeatedCall } from './errors.ts';
export { ROLE_HEADER, TICKET_HEADER } from './headers.ts';
export { runToolLoop } from './loop.ts';
export type { ToolLoopResult, ToolLoopSpec } from './loop.ts';
export { MOCK_EMBEDDING_DIMENSIONS, mockEmbedding, startMockLlm } from './mock-server.ts';
export type { MockCall, MockFailure, MockLlm, MockLlmOptions, UnusedEntry } from './mock-server.ts';
export { createChatModel, modelSettings } from './model.ts';
export type { ModelSettings } from './model.ts';
export {
  loadMockScript,
  MockScript,
  parseMockScript,
  ScriptEntry,
  ScriptExpect,
  ScriptToolCall,
  ScriptUsage,
} from './script.ts';
export type { MockScriptInput, ScriptEntryInput } from './script.ts';
export { askStructured, jsonSchemaFormat, jsonSchemaOf, parseAnswer, repairPrompt } from './structured.ts';
export type { StructuredResult, StructuredSpec } from './structured.ts';
export { createRepoTools, ListFilesArgs, ReadFileArgs, SearchArgs } from './tools.ts';
export type { RepoTools, RepoToolsOptions, ToolBox, ToolOutput, ToolStats } from './tools.ts';
export {
  ChatMessage,
  Exchange,
  JsonSchemaFormat,
  memoryTranscript,
  RecordedToolCall,
  toMockScript,
  ToolDefinition,
} from './transcript.ts';
export type { MemoryTranscript, ToMockScriptOptions, TranscriptSink } from './transcript.ts';
export { RoleUsage, TokenMeter, TokenUsage, UsageTotals } from './usage.ts';
