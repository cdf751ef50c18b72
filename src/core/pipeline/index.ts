/** The one-round-trip request pipeline (issue 4): session + rate limits + cache prefetch at request start. */
export { createPipeline, RequestPipeline, type PipelineOptions, type PipelineRequest, type PipelineResult } from './pipeline.js';
export { PIPELINE_SCRIPT } from './lua.js';
export { refusalOf, limitHeaders, type Refusal } from './refusal.js';
