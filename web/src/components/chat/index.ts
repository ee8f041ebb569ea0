export { ChatInput } from './ChatInput';
export { ChatSidebar } from './ChatSidebar';
export { ChatSettingsPanel } from './ChatSettingsPanel';
export { MessageList } from './MessageList';
export { MessageContent } from './MessageContent';
export { ModelSelector } from './ModelSelector';
export { PerformanceMetrics } from './PerformanceMetrics';
