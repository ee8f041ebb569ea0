export { InspectorPanel } from './InspectorPanel';
export { MessageInspector } from './MessageInspector';
